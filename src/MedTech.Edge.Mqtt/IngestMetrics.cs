using System.Diagnostics.Metrics;

namespace MedTech.Edge.Mqtt;

/// <summary>Ingest counters (meter <c>MedTech.Edge.Gateway</c>); labels are reasons, never device or patient ids.</summary>
public sealed class IngestMetrics : IDisposable
{
    public const string MeterName = "MedTech.Edge.Gateway";

    private readonly Meter meter = new(MeterName);
    private long received;
    private long committed;
    private long deadLettered;

    public IngestMetrics()
    {
        Refused = meter.CreateCounter<long>("messages.refused", description: "Messages not stored, by reason.");
        meter.CreateObservableCounter("messages.received", () => Interlocked.Read(ref received));
        meter.CreateObservableCounter("messages.committed", () => Interlocked.Read(ref committed));
        meter.CreateObservableCounter("messages.ingest_dead_lettered", () => Interlocked.Read(ref deadLettered),
            description: "Messages kept as dead letters at ingest (too large to store), then acknowledged.");
    }

    public Counter<long> Refused { get; }

    public long Received => Interlocked.Read(ref received);

    public long Committed => Interlocked.Read(ref committed);

    public void OnReceived() => Interlocked.Increment(ref received);

    public void OnCommitted() => Interlocked.Increment(ref committed);

    /// <summary>Dead-lettered at ingest (committed as a dead letter, not to the inbox).</summary>
    public long DeadLettered => Interlocked.Read(ref deadLettered);

    public void OnDeadLettered() => Interlocked.Increment(ref deadLettered);

    public void Dispose() => meter.Dispose();
}
