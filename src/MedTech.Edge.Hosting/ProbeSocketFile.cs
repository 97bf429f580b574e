using System.Net.Sockets;
using MedTech.Edge.Files;
using Microsoft.AspNetCore.Connections;

namespace MedTech.Edge.Hosting;

/// <summary>
/// The file of the probe's Unix socket (<see cref="MonitoringOptions.ProbeSocket"/>). A killed process leaves its socket
/// file behind (only a clean close unlinks it), and binding then fails with "address in use", so a restart after a crash
/// would never serve the probe again; what is left is replaced when nothing answers on it. What this code cannot have
/// left (a file with content, a folder, a link) is never deleted: a mistyped path must not cost the buffer file.
/// </summary>
internal static class ProbeSocketFile
{
    /// <summary>Creates the folder (0700 when new) and clears a stale socket; throws when a live one or a foreign file is there.</summary>
    public static void Prepare(string path)
    {
        try
        {
            PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
            ClearStale(path);
        }
        catch (UnauthorizedAccessException)
        {
            // As a bind without the right to the folder fails: named, with the way out, not an unhandled crash.
            throw new IOException($"{path}: this user may not create or replace the socket there; set Monitoring:ProbeSocket to a folder it owns, or empty for none.",
                new SocketException((int)SocketError.AccessDenied));
        }
    }

    private static void ClearStale(string path)
    {
        var file = new FileInfo(path);
        if (Directory.Exists(path) || (file.Exists && (file.LinkTarget is not null || file.Length != 0 || !IsSocketOrRegular(path))))
        {
            throw new IOException($"{path} exists and is not a socket: remove it or set another Monitoring:ProbeSocket.",
                new AddressInUseException("not a socket"));
        }

        if (!file.Exists)
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Nobody listens: the socket of a process that was killed (or an empty file, which connects the same way).
            File.Delete(path);
            return;
        }
        catch (SocketException ex)
        {
            throw new IOException($"{path} cannot be checked ({ex.SocketErrorCode}): remove it or set another Monitoring:ProbeSocket.", ex);
        }

        // Another instance serves it: taking its socket would make that one's probe ask this one.
        throw new IOException($"{path} is served by another running process.", new AddressInUseException("probe socket in use"));
    }

    /// <summary>
    /// Only a socket (or an empty regular file) may be replaced: a named pipe or a device also has length 0 and refuses
    /// a connection, and a mistyped path must not remove another program's pipe. .NET does not tell file types apart
    /// on Unix; Mono.Unix reads them with lstat.
    /// </summary>
    private static bool IsSocketOrRegular(string path) => OperatingSystem.IsWindows()
        || Mono.Unix.UnixFileSystemInfo.GetFileSystemEntry(path).FileType is Mono.Unix.FileTypes.Socket or Mono.Unix.FileTypes.RegularFile;

    /// <summary>0600 once bound: bind creates the socket with the umask's mode; the 0700 folder protects it until then.</summary>
    public static void Restrict(string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, PrivateFiles.FileMode);
        }
    }
}
