namespace MedTech.Edge.Testing;

/// <summary>
/// Records every wait asked of it (Task.Delay, timers) and lets it end at once: a test reads the backoff a worker
/// chose without waiting it out, and without racing a clock.
/// </summary>
public sealed class RecordingTimeProvider : TimeProvider
{
    private readonly Lock gate = new();
    private readonly List<TimeSpan> waits = [];

    public IReadOnlyList<TimeSpan> Waits
    {
        get
        {
            lock (gate)
            {
                return waits.ToList();
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        lock (gate)
        {
            waits.Add(dueTime);
        }

        return System.CreateTimer(callback, state, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }
}
