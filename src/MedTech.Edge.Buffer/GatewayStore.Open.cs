using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Opening the file, telling a damaged one from a busy one, read-only inspection, and reopening LiteDB after a failed
/// write (a full disk): an engine that failed a write is never used again (<see cref="BufferFiles"/> latches its
/// files), and once space is back a new engine on the same files writes again (see FullDiskTests).
/// </summary>
public sealed partial class GatewayStore
{
    /// <summary>The collections a buffer file may hold; a LiteDB file with any other is not a gateway buffer.</summary>
    internal static readonly string[] CollectionNames = [Inbox, Outbox, DeadLetters, Counters, State];

    // LiteDB 5 writes this text into the first page of each of its files (HEADER_INFO at byte 32).
    private static readonly byte[] LiteDbHeader = Encoding.ASCII.GetBytes("** This is a LiteDB file **");

    private readonly Func<string, Stream>? openFile;
    private readonly Func<string, LiteDatabase>? openReadOnly;
    private readonly bool readOnly;

    // The production files (not a test's streams): checked read-only before the first writable open, and the empty
    // log deleted on close, as LiteDB's own file mode does.
    private readonly bool ownFiles;

    // The files the current writable engine writes through; null for a read-only store.
    private BufferFiles? files;

    /// <summary>
    /// The longest a failed or replaced engine is waited for while it closes. LiteDB 5.0.20 can block for ever in its
    /// close after a failed write; past this the engine is left to itself (its files are latched, it cannot change
    /// them) and the store goes on with a new one.
    /// </summary>
    internal static TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Opens an existing buffer file for inspection without writing one byte to it (LiteDB's read-only connection, no
    /// index creation, no marker on dispose). Throws <see cref="BufferFileDamagedException"/> for a missing file or
    /// one that is not a buffer, and for a buffer LiteDB cannot read.
    /// </summary>
    public static GatewayStore OpenReadOnly(string path, TimeProvider? timeProvider = null) => Guard<GatewayStore>(() =>
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

        var store = new GatewayStore(new BufferOptions { Path = full }, timeProvider, null, OpenForReading, ownFiles: false);
        if (store.db.GetCollectionNames().Except(CollectionNames, StringComparer.Ordinal).FirstOrDefault() is { } other)
        {
            // Only for inspection: the gateway's own start does not refuse a collection a newer release added.
            store.Dispose();
            throw new BufferFileDamagedException(full, $"it is a LiteDB file but not a gateway buffer (collection '{Bounded(other)}')");
        }

        return store;
    });

    /// <summary>
    /// Before the file is opened for writing, a read-only open and read of it must work: on a damaged file LiteDB's
    /// writable open changes it (it marks the header for an automatic rebuild that drops what it cannot read), and the
    /// operator's salvage needs the file as it was.
    /// </summary>
    private static void CheckReadable(string path)
    {
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            if (!HasLiteDbHeader(path))
            {
                throw new BufferFileDamagedException(path, new InvalidDataException("not a LiteDB file"));
            }

            new GatewayStore(new BufferOptions { Path = path }, null, null, OpenForReading, ownFiles: false).Dispose();
        }
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
            var logPath = BufferFiles.LogPath(path);
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
    /// Replaces LiteDB's engine with a new one on the same files and rebuilds the in-memory indexes from what the files
    /// hold: after a failed write (disk full) the old engine must not write again. An old engine that failed is
    /// abandoned (its files latched, its close not waited for beyond <see cref="CloseTimeout"/>); a healthy one is
    /// closed as usual first. Throws what the new open throws (the disk may still be full); the store then refuses
    /// every operation until a later call works.
    /// </summary>
    public void Reopen() => Guard(() =>
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (readOnly)
            {
                throw new InvalidOperationException("A read-only store is not reopened.");
            }

            var old = files;
            Close(db, old, abandon: old?.Failure is not null);

            // Until the new engine is open, the store refuses work (a closed engine is never used).
            old?.Abandon();
            ClearIndexes();
            db = OpenAndLoad();
        }
    });

    /// <summary>
    /// Throws when a write of the current engine failed: what it holds in memory may not be what the files hold, so
    /// nothing is read from it or acknowledged on it until <see cref="Reopen"/> replaces it. Only the type of the
    /// failure is named (its message may carry a path).
    /// </summary>
    private void ThrowIfWriteFailed()
    {
        if (files?.Failure is { } failure)
        {
            throw new IOException($"The buffer could not be written ({failure.GetType().Name}); it must be reopened before it stores again.", failure);
        }
    }

    /// <summary>
    /// After a commit that must survive a power cut: LiteDB 5.0.20 commits without an fsync, so a checkpoint writes the
    /// log into the data file and flushes it. The checkpoint then empties the log without flushing it, and its own
    /// writer flushes the log only after it has signalled the checkpoint to go on, so a cut right after this returned
    /// could leave an older log on disk, whose pages a restart replays over the newer data file (acknowledged messages
    /// gone: the power-cut test's failure). Flushing the emptied log closes that window.
    /// </summary>
    private void ForceToDisk()
    {
        ThrowIfWriteFailed();
        try
        {
            db.Checkpoint();
            files?.FlushLog();
        }
        catch (Exception) when (files?.Failure is not null)
        {
            // LiteDB's own error after a dropped log write (its log is shorter than it counts) says less than the write's.
        }

        ThrowIfWriteFailed();
    }

    /// <summary>
    /// Opens LiteDB and builds the in-memory indexes; an unreadable file becomes <see cref="BufferFileDamagedException"/>.
    /// Sets <see cref="files"/> to the new files, or, when the open fails, to latched ones (the store refuses work).
    /// </summary>
    private LiteDatabase OpenAndLoad()
    {
        if (File.Exists(FilePath) && new FileInfo(FilePath).Length > 0 && !HasLiteDbHeader(FilePath))
        {
            // LiteDB would start a new database over it; the file may be a damaged buffer an operator can still salvage.
            throw new BufferFileDamagedException(FilePath, new InvalidDataException("not a LiteDB file"));
        }

        LiteDatabase? opened = null;
        BufferFiles? opening = null;
        try
        {
            if (readOnly)
            {
                opened = openReadOnly!(FilePath);
            }
            else
            {
                if (ownFiles)
                {
                    CheckReadable(FilePath);
                }

                opening = BufferFiles.Open(FilePath, openFile!);
                files = opening;
                opened = new LiteDatabase(opening.Data, logStream: opening.Log);
            }

            db = opened;
            if (!readOnly)
            {
                db.GetCollection(DeadLetters).EnsureIndex("code");
            }

            Load();
            ThrowIfWriteFailed();
            return opened;
        }
        catch (Exception ex) when (IsDamage(ex))
        {
            ClearIndexes();
            Close(opened, opening, abandon: true);
            throw new BufferFileDamagedException(FilePath, ex);
        }
        catch
        {
            ClearIndexes();
            Close(opened, opening, abandon: true);
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
        InHand? held = null;
        try
        {
            held = inHand.Read(NormalizationInHand);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        if (held is not null)
        {
            lastInboxId = Math.Max(lastInboxId, Math.Max(held.LastId, held.RecoverUpTo));
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
                    BufferDocuments.Bytes(batch), batch["createdUtc"].AsDateTime.ToUniversalTime(), SendersOf(batch)));
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
        ledger.Clear();
        lastInboxId = 0;
        undelivered.Clear();
        undeliveredBatches.Clear();
        roundOf.Clear();
        rounds.Clear();
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

    /// <summary>
    /// Closes an engine and then its files. <paramref name="abandon"/>: it failed or is being replaced, so its files are
    /// latched first (its close cannot write). Either way the close runs on a thread of its own and is waited for at
    /// most <see cref="CloseTimeout"/>: LiteDB 5.0.20 may block for ever there, and the store must go on.
    /// </summary>
    private static void Close(LiteDatabase? database, BufferFiles? files, bool abandon)
    {
        if (abandon)
        {
            files?.Abandon();
        }

        if (database is not null)
        {
            // A thread of its own: a task could be run inline by the wait below, which would then not be bounded.
            // Any other failure is handed back to this thread (unhandled on that one, it would end the process).
            Exception? unexpected = null;
            var closing = new Thread(() =>
            {
                try
                {
                    database.Dispose();
                }
                catch (Exception ex) when (ex is LiteException or IOException or ObjectDisposedException)
                {
                    // LiteDB rethrows an earlier I/O failure on close (its final checkpoint); what was committed and
                    // forced to disk before stays there, and the next open recovers from the file and its log.
                }
                catch (Exception ex)
                {
                    unexpected = ex;
                }
            })
            { IsBackground = true, Name = "buffer-close" };
            closing.Start();
            if (!closing.Join(CloseTimeout))
            {
                // Left to itself: with its files latched it cannot change them, and nothing here waits on it again.
                files?.Abandon();
                return;
            }

            if (unexpected is not null)
            {
                files?.Dispose();
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(unexpected);
            }
        }

        files?.Dispose();
    }

    /// <summary>LiteDB's own file mode deletes an empty log when it closes; with the files given as streams it cannot.</summary>
    private void DeleteEmptyLog()
    {
        var log = BufferFiles.LogPath(FilePath);
        try
        {
            if (File.Exists(log) && new FileInfo(log).Length == 0)
            {
                File.Delete(log);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // An empty log left behind is harmless: the next open finds no pages in it.
        }
    }

    private static string Bounded(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
