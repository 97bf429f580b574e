using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer's LiteDB file and its engine: every operation under <see cref="Gate"/>, one transaction per step, commits
/// forced to disk, and the engine's life: open, reopen after a failed write (a full disk), rebuild, close. An engine
/// that failed a write is never used again (<see cref="BufferFiles"/> latches its files), and once space is back a new
/// engine on the same files writes again (see FullDiskTests). What the file holds is read into memory at every open by
/// the loader <see cref="Open"/> was given (<see cref="BufferState"/>).
/// </summary>
internal sealed class BufferFile
{
    private readonly Func<string, Stream>? openFile;
    private readonly Func<string, LiteDatabase>? openReadOnly;

    // For the production files (not a test's streams): a read-only open and read before each writable open, since on
    // a damaged file LiteDB's writable open changes it; and the empty log is deleted on close, as LiteDB's file mode does.
    private readonly Action<string>? checkReadable;

    private LiteDatabase? db;

    // The files the current writable engine writes through; null for a read-only file.
    private BufferFiles? files;
    private Action load = () => { };
    private Action forget = () => { };

    /// <summary>Writable through <paramref name="openFile"/>, or read-only on what <paramref name="openReadOnly"/> opens.</summary>
    public BufferFile(string path, Func<string, Stream>? openFile, Func<string, LiteDatabase>? openReadOnly, Action<string>? checkReadable)
    {
        Path = System.IO.Path.GetFullPath(path);
        this.openFile = openFile;
        this.openReadOnly = openReadOnly;
        this.checkReadable = checkReadable;
        ReadOnly = openReadOnly is not null;
        if (!ReadOnly)
        {
            PrivateFiles.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        }
    }

    public string Path { get; }

    public bool ReadOnly { get; }

    public bool Closed { get; private set; }

    /// <summary>Held by every operation on the buffer: one at a time, and the in-memory indexes move with the file.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The current engine; use <see cref="Collection"/> outside a transaction.</summary>
    public LiteDatabase Database => db ?? throw new InvalidOperationException("The buffer file is not open.");

    /// <summary>
    /// Runs one operation under <see cref="Gate"/> with LiteDB's exceptions turned into <see cref="BufferStorageException"/>:
    /// the storage library stays inside the buffer, and no consumer has to reference it to tell a storage failure apart.
    /// </summary>
    public T Locked<T>(Func<T> operation) => Guard(() =>
    {
        lock (Gate)
        {
            return operation();
        }
    });

    /// <inheritdoc cref="Locked{T}(Func{T})"/>
    public void Locked(Action operation) => Locked<bool>(() =>
    {
        operation();
        return true;
    });

    /// <summary>As <see cref="Locked{T}(Func{T})"/> without the lock (an operation that takes it in steps, or none).</summary>
    public static T Guard<T>(Func<T> operation)
    {
        try
        {
            return operation();
        }
        catch (LiteException ex)
        {
            throw new BufferStorageException(ex);
        }
    }

    /// <summary>
    /// Opens the engine and runs <paramref name="loader"/> on it, now and at every reopen; <paramref name="unload"/>
    /// forgets what it built. An unreadable file becomes <see cref="BufferFileDamagedException"/>.
    /// </summary>
    public void Open(Action loader, Action unload)
    {
        load = loader;
        forget = unload;
        Guard(() =>
        {
            OpenAndLoad();
            return true;
        });
    }

    public ILiteCollection<BsonDocument> Collection(string name)
    {
        ThrowIfWriteFailed();
        return Database.GetCollection(name, BsonAutoId.Int64);
    }

    /// <summary>
    /// Runs <paramref name="work"/> as one LiteDB transaction; any failure rolls all of it back. Throws too when a
    /// write of this engine has failed (<see cref="BufferFiles"/>): then what LiteDB reports committed may not be on
    /// disk, so nothing may be acknowledged on it.
    /// </summary>
    public void Transaction(Action work)
    {
        ThrowIfWriteFailed();
        Database.BeginTrans();
        try
        {
            work();
            Database.Commit();
        }
        catch (Exception ex)
        {
            RollbackAfter(ex);

            // After a failed write LiteDB's own error (a page it cannot read back) says less than the write's.
            ThrowIfWriteFailed();
            throw;
        }

        ThrowIfWriteFailed();
    }

    /// <summary>
    /// After a commit that must survive a power cut: LiteDB 5.0.20 commits without an fsync, so a checkpoint writes the
    /// log into the data file and flushes it. The checkpoint then empties the log without flushing it, and its own
    /// writer flushes the log only after it has signalled the checkpoint to go on, so a cut right after this returned
    /// could leave an older log on disk, whose pages a restart replays over the newer data file (acknowledged messages
    /// gone: the power-cut test's failure). Flushing the emptied log closes that window.
    /// </summary>
    public void ForceToDisk()
    {
        ThrowIfWriteFailed();
        try
        {
            Database.Checkpoint();
            files?.FlushLog();
        }
        catch (Exception) when (files?.Failure is not null)
        {
            // LiteDB's own error after a dropped log write (its log is shorter than it counts) says less than the write's.
        }

        ThrowIfWriteFailed();
    }

    /// <summary>
    /// Replaces the engine with a new one on the same files and loads again: after a failed write (disk full) the old
    /// engine must not write again. An old engine that failed is abandoned (its files latched, its close not waited
    /// for beyond <see cref="LiteDbEngines.CloseTimeout"/>); a healthy one is closed as usual first. Throws what the
    /// new open throws (the disk may still be full); the buffer then refuses every operation until a later call works.
    /// </summary>
    public void Reopen()
    {
        ObjectDisposedException.ThrowIf(Closed, this);
        if (ReadOnly)
        {
            throw new InvalidOperationException("A read-only store is not reopened.");
        }

        var old = files;
        LiteDbEngines.Close(db, old, abandon: old?.Failure is not null);

        // Until the new engine is open, the buffer refuses work (a closed engine is never used).
        old?.Abandon();
        forget();
        OpenAndLoad();
    }

    /// <summary>
    /// LiteDB rebuilds only a database it opened by file name (on the streams given it here, Rebuild does nothing):
    /// the engine is closed, a file-mode engine rebuilds the file, and it is opened and loaded again.
    /// </summary>
    public void Rebuild()
    {
        ThrowIfWriteFailed();
        LiteDbEngines.Close(db, files, abandon: false);
        files?.Abandon();
        forget();
        try
        {
            using var plain = new LiteDatabase(new ConnectionString { Filename = Path, Connection = ConnectionType.Direct });
            plain.Rebuild();
        }
        finally
        {
            OpenAndLoad();
        }
    }

    /// <summary>Runs <paramref name="lastWrite"/> (its failure only logged away), then closes the engine and its files.</summary>
    public void Close(Action? lastWrite)
    {
        Closed = true;
        try
        {
            lastWrite?.Invoke();
        }
        catch (Exception ex) when (ex is LiteException or IOException)
        {
            // The last write is the delivered marker: not saved, the last second's deliveries are sent again after the restart.
        }

        LiteDbEngines.Close(db, files, abandon: files?.Failure is not null);
        files = null;
        if (checkReadable is not null)
        {
            LiteDbEngines.DeleteEmptyLog(Path);
        }
    }

    /// <summary>
    /// Throws when a write of the current engine failed: what it holds in memory may not be what the files hold, so
    /// nothing is read from it or acknowledged on it until <see cref="Reopen"/> replaces it. Only the type of the
    /// failure is named (its message may carry a path).
    /// </summary>
    public void ThrowIfWriteFailed()
    {
        if (files?.Failure is { } failure)
        {
            throw new IOException($"The buffer could not be written ({failure.GetType().Name}); it must be reopened before it stores again.", failure);
        }
    }

    /// <summary>The file and its log, in bytes.</summary>
    public long FileBytes()
    {
        var log = PrivateFiles.LiteDbLogPath(Path);
        return new FileInfo(Path).Length + (File.Exists(log) ? new FileInfo(log).Length : 0);
    }

    /// <summary>
    /// Opens LiteDB and loads; sets <see cref="files"/> to the new files, or, when the open fails, to latched ones (the
    /// buffer refuses work).
    /// </summary>
    private void OpenAndLoad()
    {
        if (File.Exists(Path) && new FileInfo(Path).Length > 0 && !LiteDbEngines.HasLiteDbHeader(Path))
        {
            // LiteDB would start a new database over it; the file may be a damaged buffer an operator can still salvage.
            throw new BufferFileDamagedException(Path, new InvalidDataException("not a LiteDB file"));
        }

        LiteDatabase? opened = null;
        BufferFiles? opening = null;
        try
        {
            if (ReadOnly)
            {
                opened = openReadOnly!(Path);
            }
            else
            {
                checkReadable?.Invoke(Path);
                opening = BufferFiles.Open(Path, openFile!);
                files = opening;
                opened = new LiteDatabase(opening.Data, logStream: opening.Log);
            }

            db = opened;
            if (!ReadOnly)
            {
                db.GetCollection(DeadLetterShelf.Collection).EnsureIndex("code");
            }

            load();
            ThrowIfWriteFailed();
        }
        catch (Exception ex) when (LiteDbEngines.IsDamage(ex))
        {
            forget();
            LiteDbEngines.Close(opened, opening, abandon: true);
            throw new BufferFileDamagedException(Path, ex);
        }
        catch
        {
            forget();
            LiteDbEngines.Close(opened, opening, abandon: true);
            throw;
        }
    }

    /// <summary>Rolls a failed transaction back; after an I/O failure the rollback may fail too, and the first error is the one that counts.</summary>
    private void RollbackAfter(Exception failure)
    {
        try
        {
            Database.Rollback();
        }
        catch (Exception ex) when (ex is LiteException or IOException && failure is LiteException or IOException)
        {
        }
    }
}
