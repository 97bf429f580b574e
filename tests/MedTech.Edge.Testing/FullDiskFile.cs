namespace MedTech.Edge.Testing;

/// <summary>A disk that can fill up and get space back, shared by the files on it.</summary>
public sealed class FullDisk
{
    private volatile bool full;

    public bool Full
    {
        get => full;
        set => full = value;
    }

    private int refused;

    /// <summary>How many writes failed for lack of space.</summary>
    public int Refused => Volatile.Read(ref refused);

    internal void Refuse() => Interlocked.Increment(ref refused);
}

/// <summary>
/// A real file on a <see cref="FullDisk"/>: while the disk is full, a write, flush or growth past the file's end fails
/// with the IOException a full disk gives (ENOSPC, "No space left on device"); overwriting allocated bytes still works,
/// as on a real filesystem out of blocks. A real small filesystem needs root (mount) on this machine.
/// </summary>
public sealed class FullDiskFile(string path, FullDisk disk) : FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 1)
{
    private const int Enospc = 28;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Check(Position + buffer.Length);
        base.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        Check(Position + count);
        base.Write(buffer, offset, count);
    }

    public override void SetLength(long value)
    {
        Check(value);
        base.SetLength(value);
    }

    private void Check(long end)
    {
        if (disk.Full && end > Length)
        {
            disk.Refuse();
            throw new IOException("No space left on device", Enospc);
        }
    }
}
