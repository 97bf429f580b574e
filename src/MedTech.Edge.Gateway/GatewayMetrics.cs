using System.Diagnostics.Metrics;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The gateway's pipeline metrics (meter <c>MedTech.Edge.Gateway</c>, beside the ingest counters): normalized,
/// dead-lettered by reason, forwarded; and, read from the buffer at each scrape, its depth, the age of the oldest
/// unsent data and the drops by reason. Labels never carry device or patient ids.
/// </summary>
public sealed class GatewayMetrics : IDisposable
{
    private readonly Meter meter = new(Mqtt.IngestMetrics.MeterName);

    public GatewayMetrics(GatewayStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        Normalized = meter.CreateCounter<long>("messages.normalized", description: "Messages normalized into measurements.");
        DeadLettered = meter.CreateCounter<long>("messages.deadlettered", description: "Messages dead-lettered, by reason code.");
        MappingReloads = meter.CreateCounter<long>("mapping.reloads", description: "Device mapping file changes, by result: applied, or rejected as invalid.");
        Forwarded = meter.CreateCounter<long>("groups.forwarded", description: "Measurement groups the hub acknowledged.");
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

    public void Dispose() => meter.Dispose();
}
