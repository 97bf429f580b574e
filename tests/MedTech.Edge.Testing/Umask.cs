using System.Runtime.InteropServices;

namespace MedTech.Edge.Testing;

/// <summary>
/// Sets the process's umask for a test and restores it: 000 creates files 0666 and folders 0777 unless the code sets the
/// mode itself, which is what the data-at-rest tests need to see. Process-wide: use it in a collection that runs alone.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class Umask : IDisposable
{
    public const string Collection = "umask (runs alone)";

    private readonly uint previous;

    public Umask(uint mask) => previous = umask(mask);

    public void Dispose() => _ = umask(previous);

    /// <summary>The mode bits of a file or folder, as <c>ls -l</c> shows them (0600, 0700).</summary>
    public static string Mode(string path) => Convert.ToString((int)File.GetUnixFileMode(path), 8).PadLeft(4, '0');

    [DllImport("libc", EntryPoint = "umask")]
    private static extern uint umask(uint mask);
}
