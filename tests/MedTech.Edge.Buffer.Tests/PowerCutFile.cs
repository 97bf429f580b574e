namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// A real file that also remembers what a flush to disk made durable: <see cref="Durable"/> is its content as of the
/// last flush, what a power cut leaves when the disk kept nothing written after it (the usual crash model).
/// LiteDB flushes a stream it did not open with <c>Flush()</c> where it would fsync its own file, so every flush
/// counts as one. Locks on itself: LiteDB's wrapper for a caller's stream locks on the stream around each seek and
/// read or write, and the snapshot moves the position too.
/// </summary>
internal sealed class PowerCutFile(string path) : FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 1)
{
    private byte[] durable = [];

    public byte[] Durable
    {
        get
        {
            lock (this)
            {
                return durable;
            }
        }
    }

    public override void Flush(bool flushToDisk)
    {
        lock (this)
        {
            base.Flush(flushToDisk);
            var position = Position;
            Position = 0;
            var content = new byte[Length];
            ReadExactly(content);
            Position = position;
            durable = content;
        }
    }

    public override void Flush() => Flush(flushToDisk: true);

    // Every write and length change takes the snapshot's lock too, whoever calls it, so a snapshot never reads a
    // length and then fewer bytes. One clean-clone CI run failed with an EndOfStreamException that LiteDB had stored
    // on its writer thread and rethrew at close; this read is the likely source (it did not reproduce in 27 runs here).
    public override void SetLength(long value)
    {
        lock (this)
        {
            base.SetLength(value);
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (this)
        {
            base.Write(buffer);
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        lock (this)
        {
            base.Write(buffer, offset, count);
        }
    }
}
