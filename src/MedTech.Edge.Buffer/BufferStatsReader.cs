namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer's counts (<see cref="IBufferUpkeep.Stats"/>) for health probes and metric scrapes: read off the caller's
/// thread and one read at a time. They are read under the buffer file's lock, which a write holds as long as the disk
/// takes (a stalled disk, a full disk's engine close of up to 30 s, a space rebuild); a probe or scrape must answer
/// meanwhile, and the ones that keep coming wait on the one read instead of each holding a thread.
/// </summary>
public sealed class BufferStatsReader(IBufferUpkeep store, TimeProvider? time = null)
{
    /// <summary>How long a scrape waits for a read before it takes the last one (Prometheus's scrape time-out is 10 s by default).</summary>
    public static readonly TimeSpan ScrapeWait = TimeSpan.FromSeconds(2);

    private readonly TimeProvider clock = time ?? TimeProvider.System;
    private readonly Lock gate = new();
    private Task<BufferStats>? reading;
    private long readingSince;
    private (BufferStats Stats, long At)? last;

    /// <summary>A fresh read, or the one in flight.</summary>
    public Task<BufferStats> ReadAsync()
    {
        lock (gate)
        {
            if (reading is { IsCompleted: false } pending)
            {
                return pending;
            }

            readingSince = clock.GetTimestamp();
            return reading = Task.Run(() =>
            {
                var stats = store.Stats();
                lock (gate)
                {
                    last = (stats, clock.GetTimestamp());
                }

                return stats;
            });
        }
    }

    /// <summary>
    /// For synchronous scrape callbacks: a fresh read when it comes within <see cref="ScrapeWait"/> of its start, else the
    /// last read that worked and how old it is (null before any has). A read already waited on that long is not waited
    /// on again, so the buffer's several series cost one wait per scrape, not one each.
    /// </summary>
    public (BufferStats Stats, TimeSpan Age)? Latest()
    {
        var read = ReadAsync();
        var left = ScrapeWait - clock.GetElapsedTime(Volatile.Read(ref readingSince));
        try
        {
            if (left > TimeSpan.Zero)
            {
                read.Wait(left);
            }
        }
        catch (AggregateException)
        {
            // The buffer could not be read (health shows why); the last counts stand.
        }

        lock (gate)
        {
            return last is { } known ? (known.Stats, clock.GetElapsedTime(known.At)) : null;
        }
    }
}
