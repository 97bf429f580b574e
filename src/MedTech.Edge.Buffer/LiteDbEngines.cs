using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// What the buffer needs of LiteDB beyond its API: telling a LiteDB file by its header, opening one without any
/// chance of changing it, telling a damaged file from a busy one, closing an engine that may never return, and
/// deleting the empty log that LiteDB's own file mode would.
/// </summary>
internal static class LiteDbEngines
{
    // LiteDB 5 writes this text into the first page of each of its files (HEADER_INFO at byte 32).
    private static readonly byte[] LiteDbHeader = Encoding.ASCII.GetBytes("** This is a LiteDB file **");

    /// <summary>
    /// The longest a failed or replaced engine is waited for while it closes. LiteDB 5.0.20 can block for ever in its
    /// close after a failed write; past this the engine is left to itself (its files are latched, it cannot change
    /// them) and the store goes on with a new one.
    /// </summary>
    internal static TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The file starts with LiteDB's header page (a text file or random bytes do not).</summary>
    public static bool HasLiteDbHeader(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var start = new byte[64];
        var read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        return start.AsSpan(0, read).IndexOf(LiteDbHeader) >= 0;
    }

    /// <summary>
    /// LiteDB on streams the OS opened for reading: its own read-only connection is not enough, since on a damaged file
    /// LiteDB 5.0.20 still changed it (a truncated buffer of 45,056 bytes was cut to 40,960 by a read-only open). Here it
    /// cannot change a byte whatever it tries. The log beside the file (commits not yet in it) is read too.
    /// </summary>
    public static LiteDatabase OpenForReading(string path)
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

    /// <summary>
    /// An exception that means the file's content is bad rather than that the file is busy, locked, forbidden or on a
    /// full disk (those are plain <see cref="IOException"/>s and <see cref="UnauthorizedAccessException"/>s, and a retry
    /// or an operator's fix of the surroundings helps; a damaged file needs <c>medtech buffer salvage</c>).
    /// </summary>
    public static bool IsDamage(Exception ex) =>
        ex is not (UnauthorizedAccessException or OutOfMemoryException or OperationCanceledException or BufferFileDamagedException)
        && ex.GetType() != typeof(IOException)
        && !(ex is LiteException lite && lite.InnerException?.GetType() == typeof(IOException));

    /// <summary>
    /// Closes an engine and then its files. <paramref name="abandon"/>: it failed or is being replaced, so its files are
    /// latched first (its close cannot write). Either way the close runs on a thread of its own and is waited for at
    /// most <see cref="CloseTimeout"/>: LiteDB 5.0.20 may block for ever there, and the store must go on.
    /// </summary>
    public static void Close(LiteDatabase? database, BufferFiles? files, bool abandon)
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
    public static void DeleteEmptyLog(string path)
    {
        var log = BufferFiles.LogPath(path);
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
}
