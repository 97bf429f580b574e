namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer's data file and LiteDB's log beside it, as the streams LiteDB writes through. They share one latch: the
/// first failed write (a full disk: ENOSPC) or an <see cref="Abandon"/> latches it, and from then on neither file
/// takes another byte from this engine, so nothing a failed engine does later (its checkpoint on close, its header
/// mark for a rebuild) can reach the files a new engine has opened.
/// </summary>
/// <remarks>
/// Why the log never throws: LiteDB 5.0.20 writes the log on an async writer task (DiskWriterQueue). A write that
/// throws there is caught by that task, which then closes the engine from inside itself and waits on its own task
/// (a deadlock when it fails before its first await), and never signals "queue empty", so the next checkpoint or close
/// waits for ever: the full-disk hang. So a failed log write is recorded here and swallowed; the writer finishes its
/// queue normally, and <see cref="GatewayStore"/> checks <see cref="Failure"/> after each commit and checkpoint and
/// reports the write as failed (nothing is acknowledged) before anything could rely on it. The data file is written
/// on the caller's thread (checkpoint), so there a failure is thrown as usual.
/// The writer task also syncs the log each time its queue runs empty, which happens after every page when the
/// committing thread feeds it one at a time: a commit of 200 pages cost 200 fsyncs. With <c>deferLogSync</c> the log
/// is synced once, by the owner calling <see cref="FlushLog"/> after each commit (the local FHIR store does).
/// </remarks>
public sealed class BufferFiles : IDisposable
{
    private readonly Guarded log;
    private Exception? failure;

    private BufferFiles(Stream data, Stream log, bool deferLogSync)
    {
        Data = new Guarded(this, data, isLog: false, deferSync: false);
        this.log = new Guarded(this, log, isLog: true, deferSync: deferLogSync);
    }

    public Stream Data { get; }

    public Stream Log => log;

    /// <summary>The first write that failed (or the abandonment); null while the files are written normally.</summary>
    public Exception? Failure => Volatile.Read(ref failure);

    /// <summary>The log's path beside <paramref name="dataPath"/>, as LiteDB names it.</summary>
    public static string LogPath(string dataPath) => Path.ChangeExtension(dataPath, null) + "-log" + Path.GetExtension(dataPath);

    /// <summary>Opens both files with <paramref name="openFile"/> (which takes a path).</summary>
    /// <param name="deferLogSync">The log is synced only by <see cref="FlushLog"/>, which the owner calls after each commit.</param>
    public static BufferFiles Open(string dataPath, Func<string, Stream> openFile, bool deferLogSync = false)
    {
        ArgumentNullException.ThrowIfNull(openFile);
        var data = openFile(dataPath);
        try
        {
            return new BufferFiles(data, openFile(LogPath(dataPath)), deferLogSync);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A file as LiteDB 5.0.20's own file mode opens it for writing (others may read): unbuffered, so a full disk
    /// fails the write that meets it rather than a later flush. Created 0600 whatever the umask, and an existing file of
    /// ours narrowed to it (<see cref="PrivateFiles"/>): the buffer holds patient ids.
    /// </summary>
    public static Stream OpenFile(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.Read, BufferSize = 0, Options = FileOptions.RandomAccess };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFiles.FileMode;
            PrivateFiles.RestrictIfPossible(path);
        }

        return new FileStream(path, options);
    }

    /// <summary>
    /// Makes the log, and its current length, durable (LiteDB truncates it after a checkpoint without a flush); with
    /// deferred log sync, this is what makes a commit durable.
    /// </summary>
    public void FlushLog() => log.Sync();

    /// <summary>Latches the files so that the engine on them can no longer change them (it is being replaced).</summary>
    public void Abandon() => Fail(new IOException("The buffer's storage engine was replaced after a failed write."));

    public void Dispose()
    {
        Data.Dispose();
        Log.Dispose();
    }

    private void Fail(Exception ex) => Interlocked.CompareExchange(ref failure, ex, null);

    /// <summary>One file: passes reads through, and writes until the latch is set.</summary>
    private sealed class Guarded(BufferFiles files, Stream inner, bool isLog, bool deferSync) : Stream
    {
        public override bool CanRead => inner.CanRead;

        public override bool CanSeek => inner.CanSeek;

        public override bool CanWrite => inner.CanWrite;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (MayWrite())
            {
                try
                {
                    inner.Write(buffer, offset, count);
                }
                catch (Exception ex)
                {
                    Failed(ex);
                }
            }
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (MayWrite())
            {
                try
                {
                    inner.Write(buffer);
                }
                catch (Exception ex)
                {
                    Failed(ex);
                }
            }
        }

        public override void SetLength(long value)
        {
            if (MayWrite())
            {
                try
                {
                    inner.SetLength(value);
                }
                catch (Exception ex)
                {
                    Failed(ex);
                }
            }
        }

        // LiteDB flushes a stream it was given with Flush() where it would fsync a file it opened itself.
        public override void Flush()
        {
            if (!deferSync)
            {
                Sync();
            }
        }

        public void Sync()
        {
            if (MayWrite())
            {
                try
                {
                    if (inner is FileStream file)
                    {
                        file.Flush(flushToDisk: true);
                    }
                    else
                    {
                        inner.Flush();
                    }
                }
                catch (Exception ex)
                {
                    Failed(ex);
                }
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        /// <summary>False for the log once latched (the write is dropped); the data file throws then.</summary>
        private bool MayWrite()
        {
            if (files.Failure is not { } earlier)
            {
                return true;
            }

            return isLog ? false : throw new IOException("An earlier write to the buffer failed; this engine writes no more.", earlier);
        }

        /// <summary>
        /// Latches a failed write: rethrown for the data file (its writer is the caller), swallowed for the log (any
        /// exception on LiteDB's log writer task hangs the engine, see the class remarks).
        /// </summary>
        private void Failed(Exception ex)
        {
            files.Fail(ex);
            if (!isLog)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex);
            }
        }
    }
}
