using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer's private files: LiteDB files opened owner-only (0600), here because only the buffer and the local FHIR
/// store use LiteDB. The folder and file modes themselves are <see cref="Files.PrivateFiles"/>'s, which the modules without
/// LiteDB (the cloud writer) share; the members below forward to it so the buffer's callers read as before.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode FileMode = Files.PrivateFiles.FileMode;

    public const UnixFileMode FolderMode = Files.PrivateFiles.FolderMode;

    /// <inheritdoc cref="Files.PrivateFiles.CreateDirectory(string)"/>
    public static void CreateDirectory(string path) => Files.PrivateFiles.CreateDirectory(path);

    /// <inheritdoc cref="Files.PrivateFiles.WriteAllBytes(string, ReadOnlySpan{byte})"/>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes) => Files.PrivateFiles.WriteAllBytes(path, bytes);

    /// <inheritdoc cref="Files.PrivateFiles.RestrictIfPossible(string)"/>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static void RestrictIfPossible(string path) => Files.PrivateFiles.RestrictIfPossible(path);

    /// <summary>
    /// Opens (or creates) a LiteDB file as the buffer and the local FHIR store do, keeping it and its <c>-log</c> file 0600.
    /// LiteDB creates its files with the umask's mode, so the log (created at the first write, deleted at a clean close)
    /// is created here first, empty, which LiteDB takes as no log; and the data file, which LiteDB must create itself
    /// (an empty file is not a database to it), is restricted as soon as LiteDB returns, when it holds only its header.
    /// </summary>
    public static LiteDatabase OpenLiteDatabase(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        if (!OperatingSystem.IsWindows())
        {
            var log = LiteDbLogPath(full);
            if (!File.Exists(log))
            {
                using var created = new FileStream(log, Files.PrivateFiles.OpenOptions(System.IO.FileMode.CreateNew));
                Files.PrivateFiles.Restrict(created.SafeFileHandle);
            }

            Files.PrivateFiles.RestrictIfPossible(log);
        }

        var db = new LiteDatabase(new ConnectionString { Filename = full, Connection = ConnectionType.Direct });
        if (!OperatingSystem.IsWindows())
        {
            Files.PrivateFiles.RestrictIfPossible(full);
        }

        return db;
    }

    /// <summary>The log LiteDB keeps beside <paramref name="path"/>: <c>gateway.db</c> → <c>gateway-log.db</c>.</summary>
    public static string LiteDbLogPath(string path) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? "", System.IO.Path.GetFileNameWithoutExtension(path) + "-log" + System.IO.Path.GetExtension(path));
}
