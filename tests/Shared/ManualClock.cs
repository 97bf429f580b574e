namespace MedTech.Edge.Testing;

/// <summary>A clock the test moves by hand, so a staleness bound is crossed exactly when the test says, not when the machine is slow.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref ticks, by.Ticks);
}
