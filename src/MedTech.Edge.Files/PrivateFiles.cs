using Microsoft.Win32.SafeHandles;

namespace MedTech.Edge.Files;

/// <summary>
/// Files and folders that hold payloads (patient ids among them): readable by the module's own user only, 0600 files and
/// 0700 folders, set by this code and not left to the umask (a container's or a shell's may be 022). Folders that exist
/// already (a mounted volume, the working directory) are left as they are: their mode is the operator's choice, and the
/// files in them are 0600 anyway. On Windows the folder's inherited ACL applies; nothing is changed there.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the folder and any missing parents as 0700; an existing folder is not changed.</summary>
    public static void CreateDirectory(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        var missing = new Stack<string>();
        for (var folder = System.IO.Path.GetFullPath(path); !Directory.Exists(folder); folder = System.IO.Path.GetDirectoryName(folder)!)
        {
            missing.Push(folder);
        }

        foreach (var folder in missing)
        {
            Directory.CreateDirectory(folder, FolderMode);
            // The create mode passes through the umask; the chmod does not.
            File.SetUnixFileMode(folder, FolderMode);
        }
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> (created or truncated) with mode 0600, set on the open
    /// handle before the first byte is written, also when the file existed with another mode (a left-over temporary file).
    /// </summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        using var file = new FileStream(path, OpenOptions(System.IO.FileMode.Create));
        Restrict(file.SafeFileHandle);
        file.Write(bytes);
    }

    internal static FileStreamOptions OpenOptions(System.IO.FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        return options;
    }

    internal static void Restrict(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(handle, FileMode);
        }
    }

    /// <summary>
    /// 0600 on a file this user owns; a file another user owns (an operator's copy) keeps its mode rather than stopping
    /// the module, which could then not start at all.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static void RestrictIfPossible(string path)
    {
        try
        {
            if (File.Exists(path) && File.GetUnixFileMode(path) != FileMode)
            {
                File.SetUnixFileMode(path, FileMode);
            }
        }
        catch (UnauthorizedAccessException)
        {
            // Not ours to change; the folder's mode is what protects it then.
        }
    }
}
