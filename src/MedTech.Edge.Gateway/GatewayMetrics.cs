using System.Diagnostics.Metrics;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The gateway's pipeline metrics (meter <c>MedTech.Edge.Gateway</c>, beside the ingest counters): normalized,
/// dead-lettered by reason and stage, forwarded, worker faults; and, read from the buffer at each scrape, its depth,
/// the age of the oldest unsent data and the drops by reason. Labels never carry device or patient ids.
/// </summary>
/// <remarks>
/// Accounting, per process lifetime: messages.received = messages.committed (+ messages.refused), and
/// messages.committed + messages.pending_at_start = messages.normalized + messages.deadlettered{stage="normalize"}
/// + buffer.depth{collection="inbox"} (+ inbox drops, counted in messages.dropped). Dead letters of the forward stage
/// (stage="forward") are measurement groups, not device messages, so they are labelled apart.
/// </remarks>
public sealed class GatewayMetrics : IDisposable
{
    /// <summary>The <c>stage</c> label of dead letters from Normalize and Group (device messages).</summary>
    public static readonly KeyValuePair<string, object?> NormalizeStage = new("stage", "normalize");

    /// <summary>The <c>stage</c> label of dead letters from Forward (measurement groups the hub refused).</summary>
    public static readonly KeyValuePair<string, object?> ForwardStage = new("stage", "forward");

    private readonly Meter meter = new(Mqtt.IngestMetrics.MeterName);

    public GatewayMetrics(IBufferUpkeep store)
    {
        ArgumentNullException.ThrowIfNull(store);
        Normalized = meter.CreateCounter<long>("messages.normalized", description: "Messages normalized into measurements.");
        DeadLettered = meter.CreateCounter<long>("messages.deadlettered", description: "Messages dead-lettered, by reason code.");
        MappingReloads = meter.CreateCounter<long>("mapping.reloads", description: "Device mapping file changes, by result: applied, or rejected as invalid.");
        Forwarded = meter.CreateCounter<long>("groups.forwarded", description: "Measurement groups the hub acknowledged.");
        WorkerFaults = meter.CreateCounter<long>("worker.faults", description: "Unexpected exceptions a worker caught and continued after, by worker.");
        // The inbox as this process found it, so the counters (which start at zero) balance against the durable depth.
        var pendingAtStart = store.Stats().Inbox;
        meter.CreateObservableGauge("messages.pending_at_start", () => pendingAtStart, description: "Inbox messages waiting when the process started.");
        meter.CreateObservableGauge("buffer.depth", () =>
        {
            var stats = store.Stats();
            return new[]
            {
                new Measurement<long>(stats.Inbox, new KeyValuePair<string, object?>("collection", "inbox")),
                new Measurement<long>(stats.Outbox, new KeyValuePair<string, object?>("collection", "outbox")),
                new Measurement<long>(stats.DeadLetters, new KeyValuePair<string, object?>("collection", "deadletters")),
                new Measurement<long>(stats.DeliveredAwaitingPurge, new KeyValuePair<string, object?>("collection", "delivered_awaiting_purge")),
            };
        }, description: "Entries held in the buffer.");
        meter.CreateObservableGauge("buffer.oldest_unsent_seconds", () => store.Stats().OldestUnsentAge?.TotalSeconds ?? 0,
            description: "Age of the oldest data not yet acknowledged by the hub.");
        meter.CreateObservableCounter("messages.dropped", () => store.Stats().Dropped
            .Select(d => new Measurement<long>(d.Value, new KeyValuePair<string, object?>("reason", d.Key))), description: "Buffered data dropped, by reason.");
    }

    public Counter<long> Normalized { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> Forwarded { get; }

    public Counter<long> MappingReloads { get; }

    public Counter<long> WorkerFaults { get; }

    public void Dispose() => meter.Dispose();
}
