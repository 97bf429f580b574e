using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Opening the file, telling a damaged one from a busy one, read-only inspection, and reopening LiteDB after a failed
/// write (a full disk): LiteDB 5.0.20 keeps the I/O error of its disk writer and rethrows it on every later write, so
/// once space is back only a new engine on the same file writes again (see FullDiskTests).
/// </summary>
public sealed partial class GatewayStore
{
    /// <summary>The collections a buffer file may hold; a LiteDB file with any other is not a gateway buffer.</summary>
    internal static readonly string[] CollectionNames = [Inbox, Outbox, DeadLetters, Counters, State];

    // LiteDB 5 writes this text into the first page of each of its files (HEADER_INFO at byte 32).
    private static readonly byte[] LiteDbHeader = Encoding.ASCII.GetBytes("** This is a LiteDB file **");

    private readonly Func<string, LiteDatabase> open;
    private readonly bool readOnly;

    /// <summary>
    /// Opens an existing buffer file for inspection without writing one byte to it (LiteDB's read-only connection, no
    /// index creation, no marker on dispose). Throws <see cref="BufferFileDamagedException"/> for a missing file or
    /// one that is not a buffer, and for a buffer LiteDB cannot read.
    /// </summary>
    public static GatewayStore OpenReadOnly(string path, TimeProvider? timeProvider = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new BufferFileDamagedException(full, "there is no file there");
        }

        if (!HasLiteDbHeader(full))
        {
            throw new BufferFileDamagedException(full, "it is not a LiteDB file");
        }

        var store = new GatewayStore(new BufferOptions { Path = full }, timeProvider,
            OpenForReading, readOnly: true);
        if (store.db.GetCollectionNames().Except(CollectionNames, StringComparer.Ordinal).FirstOrDefault() is { } other)
        {
            // Only for inspection: the gateway's own start does not refuse a collection a newer release added.
            store.Dispose();
            throw new BufferFileDamagedException(full, $"it is a LiteDB file but not a gateway buffer (collection '{Bounded(other)}')");
        }

        return store;
    }

    /// <summary>
    /// Opens the file for writing once a read-only open and read of it worked: on a damaged file LiteDB's writable open
    /// changes it (it marks the header for an automatic rebuild that drops what it cannot read), and the operator's
    /// salvage needs the file as it was.
    /// </summary>
    private static LiteDatabase OpenChecked(string path)
    {
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            if (!HasLiteDbHeader(path))
            {
                throw new BufferFileDamagedException(path, new InvalidDataException("not a LiteDB file"));
            }

            new GatewayStore(new BufferOptions { Path = path }, null,
                OpenForReading, readOnly: true).Dispose();
        }

        return PrivateFiles.OpenLiteDatabase(path);
    }

    /// <summary>
    /// LiteDB on streams the OS opened for reading: its own read-only connection is not enough, since on a damaged file
    /// LiteDB 5.0.20 still changed it (a truncated buffer of 45,056 bytes was cut to 40,960 by a read-only open). Here it
    /// cannot change a byte whatever it tries. The log beside the file (commits not yet in it) is read too.
    /// </summary>
    private static ReadingDatabase OpenForReading(string path)
    {
        var data = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        FileStream? log = null;
        try
        {
            var logPath = PrivateFiles.LiteDbLogPath(path);
            log = File.Exists(logPath) ? new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite) : null;
            var engine = new LiteDB.Engine.LiteEngine(new LiteDB.Engine.EngineSettings { DataStream = data, LogStream = log, ReadOnly = true, AutoRebuild = false });
            return new ReadingDatabase(engine, data, log);
        }
        catch
        {
            data.Dispose();
            log?.Dispose();
            throw;
        }
    }

    /// <summary>A database that closes the streams it was opened on.</summary>
    private sealed class ReadingDatabase(LiteDB.Engine.ILiteEngine engine, Stream data, Stream? log) : LiteDatabase(engine, null, disposeOnClose: true)
    {
        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                data.Dispose();
                log?.Dispose();
            }
        }
    }

    /// <summary>The file starts with LiteDB's header page (a text file or random bytes do not).</summary>
    internal static bool HasLiteDbHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var start = new byte[64];
        var read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        return start.AsSpan(0, read).IndexOf(LiteDbHeader) >= 0;
    }

    /// <summary>
    /// Closes LiteDB and opens it again on the same file, and rebuilds the in-memory indexes from what the file holds:
    /// after a failed write (disk full) the old engine never writes again. Throws what the new open throws (the disk
    /// may still be full); the store then stays on the old engine and the caller tries again later.
    /// </summary>
    public void Reopen()
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            try
            {
                db.Dispose();
            }
            catch (Exception ex) when (ex is LiteException or IOException)
            {
                // The old engine rethrows its write error on close; what it had committed is in the file or its log.
            }

            ClearIndexes();
            db = OpenAndLoad();
        }
    }

    /// <summary>Opens LiteDB and builds the in-memory indexes; an unreadable file becomes <see cref="BufferFileDamagedException"/>.</summary>
    private LiteDatabase OpenAndLoad()
    {
        if (File.Exists(FilePath) && new FileInfo(FilePath).Length > 0 && !HasLiteDbHeader(FilePath))
        {
            // LiteDB would start a new database over it; the file may be a damaged buffer an operator can still salvage.
            throw new BufferFileDamagedException(FilePath, new InvalidDataException("not a LiteDB file"));
        }

        LiteDatabase? opened = null;
        try
        {
            opened = open(FilePath);
            db = opened;
            if (!readOnly)
            {
                db.GetCollection(DeadLetters).EnsureIndex("code");
            }

            Load();
            return opened;
        }
        catch (Exception ex) when (IsDamage(ex))
        {
            ClearIndexes();
            DisposeQuietly(opened);
            throw new BufferFileDamagedException(FilePath, ex);
        }
        catch
        {
            ClearIndexes();
            DisposeQuietly(opened);
            throw;
        }
    }

    /// <summary>
    /// An exception that means the file's content is bad rather than that the file is busy, locked, forbidden or on a
    /// full disk (those are plain <see cref="IOException"/>s and <see cref="UnauthorizedAccessException"/>s, and a retry
    /// or an operator's fix of the surroundings helps; a damaged file needs <c>medtech buffer salvage</c>).
    /// </summary>
    private static bool IsDamage(Exception ex) =>
        ex is not (UnauthorizedAccessException or OutOfMemoryException or OperationCanceledException or BufferFileDamagedException)
        && ex.GetType() != typeof(IOException)
        && !(ex is LiteException lite && lite.InnerException?.GetType() == typeof(IOException));

    private void Load()
    {
        var committedInInbox = LoadInbox();

        // A record left by a kill between a round's commit and its delete names ids that may have left the inbox:
        // new messages must not get them again (an emptied inbox would restart at 1), or Recover takes them for the
        // ones the dead process held.
        // An unreadable record fails the stage's Recover, not the opening of the buffer (intake goes on).
        InHand? inHand = null;
        try
        {
            inHand = ReadInHand(NormalizationInHand);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        if (inHand is not null)
        {
            lastInboxId = Math.Max(lastInboxId, Math.Max(inHand.LastId, inHand.RecoverUpTo));
        }
        deliveredUpTo = markerOnDisk = db.GetCollection(State).FindById(DeliveredUpToKey)?["value"].AsInt64 ?? 0;
        markerWrittenAt = time.GetTimestamp();
        lastOutboxId = deliveredUpTo;
        foreach (var batch in Collection(Outbox).FindAll())
        {
            var id = batch["_id"].AsInt64;
            lastOutboxId = Math.Max(lastOutboxId, id);
            if (id <= deliveredUpTo)
            {
                awaitingPurge += BufferDocuments.Units(batch);
            }
            else
            {
                TrackUndelivered(id, new OutboxBatch((int)BufferDocuments.Units(batch), BufferDocuments.DeviceMessages(batch),
                    BufferDocuments.Bytes(batch), batch["createdUtc"].AsDateTime.ToUniversalTime()));
            }
        }

        if (readOnly)
        {
            // Inspection reads the accounting as stored; a file from before it existed shows none.
            LoadAccountingReadOnly(committedInInbox);
        }
        else
        {
            LoadAccounting(committedInInbox);
        }
    }

    /// <summary>Forgets everything <see cref="Load"/> builds, before a reload.</summary>
    private void ClearIndexes()
    {
        inboxCommitIds.Clear();
        inboxCommits.Clear();
        inboxCount = 0;
        inboxBytes = 0;
        inboxBySender.Clear();
        lastInboxId = 0;
        undelivered.Clear();
        undeliveredBatches.Clear();
        outboxCount = 0;
        outboxMessages = 0;
        outboxBytes = 0;
        awaitingPurge = 0;
        deliveredUpTo = markerOnDisk = lastOutboxId = 0;
    }

    /// <summary>Rolls a failed transaction back; after an I/O failure the rollback may fail too, and the first error is the one that counts.</summary>
    private void RollbackAfter(Exception failure)
    {
        try
        {
            db.Rollback();
        }
        catch (Exception ex) when (ex is LiteException or IOException && failure is LiteException or IOException)
        {
        }
    }

    private static void DisposeQuietly(LiteDatabase? database)
    {
        try
        {
            database?.Dispose();
        }
        catch (Exception ex) when (ex is LiteException or IOException)
        {
        }
    }

    private static string Bounded(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
