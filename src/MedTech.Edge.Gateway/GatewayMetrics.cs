using System.Diagnostics.Metrics;
using System.Reflection;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The gateway's pipeline metrics (meter <c>MedTech.Edge.Gateway</c>, beside the ingest counters): normalized,
/// dead-lettered by reason and stage, forwarded, worker faults; and, read from the buffer at each scrape, its depth,
/// the age of the oldest unsent data and the drops by reason; the stage latencies device time → committed and committed →
/// acknowledged by the hub (histograms, <see cref="MonitoringExtensions.LatencyBucketsSeconds"/>); and how many devices are
/// silent (<see cref="DeviceActivity"/>). Labels never carry device or patient ids.
/// </summary>
/// <remarks>
/// Accounting, per process lifetime (checked on a scrape of the module by GatewayMetricsScrapeTests): messages.received =
/// messages.committed + messages.refused + messages.ingest_dead_lettered, and
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
        SeedKnownLabels();
        DeviceToCommitted = meter.CreateLatencyHistogram("latency.device_to_committed_seconds",
            "From a measurement's device time to its message's commit at the gateway (received), per measurement normalized.");
        CommittedToAcknowledged = meter.CreateLatencyHistogram("latency.committed_to_acknowledged_seconds",
            "From a measurement group's commit to the outbox to the hub's acknowledgement, per group.");
        meter.CreateObservableGauge("devices.silent", () => DeviceActivity.SilentBrackets.Select(b =>
            new Measurement<long>(Devices.SilentLongerThan(b.Over), new KeyValuePair<string, object?>("over", b.Label))),
            description: "Devices (seen in the last 7 days) the gateway has not received a measurement from for longer than the bracket; 'medtech buffer devices' lists them.");
        meter.CreateObservableGauge("devices.known", () => (long)Devices.Count, description: "Devices with a measurement in the last 7 days.");
        // The inbox as this process found it, so the counters (which start at zero) balance against the durable depth.
        var pendingAtStart = store.Stats().Inbox;
        meter.CreateObservableGauge("messages.pending_at_start", () => pendingAtStart, description: "Inbox messages waiting when the process started.");
        // Read off the scrape's thread (a write may hold the buffer's lock for as long as the disk takes): a scrape that
        // hung there would drop every series of the module exactly during the incident. The last counts stand meanwhile.
        var buffer = new BufferStatsReader(store);
        meter.CreateObservableGauge("buffer.depth", () => buffer.Latest() is not ({ } stats, _) ? [] : new[]
        {
            new Measurement<long>(stats.Inbox, new KeyValuePair<string, object?>("collection", "inbox")),
            new Measurement<long>(stats.Outbox, new KeyValuePair<string, object?>("collection", "outbox")),
            new Measurement<long>(stats.DeadLetters, new KeyValuePair<string, object?>("collection", "deadletters")),
            new Measurement<long>(stats.DeliveredAwaitingPurge, new KeyValuePair<string, object?>("collection", "delivered_awaiting_purge")),
        }, description: "Entries held in the buffer.");
        meter.CreateObservableGauge("buffer.oldest_unsent_seconds", () => buffer.Latest() is not ({ } stats, var age) ? []
            : new[] { new Measurement<double>(stats.OldestUnsentAge is { } oldest ? (oldest + age).TotalSeconds : 0) },
            description: "Age of the oldest data not yet acknowledged by the hub.");
        meter.CreateObservableCounter("messages.dropped", () =>
        {
            // Nothing until the buffer has been read once: a 0 before the file's own count would read as drops.
            if (buffer.Latest() is not ({ } stats, _))
            {
                return [];
            }

            // The known reasons at 0 until the buffer has dropped any (see SeedKnownLabels).
            var dropped = new Dictionary<string, long>(DropReasons.ToDictionary(r => r, _ => 0L), StringComparer.Ordinal);
            foreach (var (reason, count) in stats.Dropped)
            {
                dropped[reason] = count;
            }

            return dropped.Select(d => new Measurement<long>(d.Value, new KeyValuePair<string, object?>("reason", d.Key)));
        }, description: "Buffered data dropped, by reason.");
    }

    /// <summary>The <c>worker</c> label values of <see cref="WorkerFaults"/> (the guards in GatewayWorkers).</summary>
    public static readonly IReadOnlyList<string> Workers = ["normalization", "forwarding", "maintenance", "purge", "mapping_reload"];

    /// <summary>The reason codes a device message can be dead-lettered with at Normalize (every <see cref="ErrorCodes"/> constant).</summary>
    public static IReadOnlyList<string> NormalizeReasons { get; } = typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>The buffer's drop reasons (<see cref="BufferStats.Dropped"/>).</summary>
    public static readonly IReadOnlyList<string> DropReasons =
        [GatewayStore.DroppedForCapacity, GatewayStore.DroppedForTtl, GatewayStore.DroppedDeadLetterForCapacity, GatewayStore.DroppedDeadLetterForTtl];

    public Counter<long> Normalized { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> Forwarded { get; }

    public Counter<long> MappingReloads { get; }

    public Counter<long> WorkerFaults { get; }

    public Histogram<double> DeviceToCommitted { get; }

    public Histogram<double> CommittedToAcknowledged { get; }

    /// <summary>When each device was last heard from (never a label; see <see cref="DeviceActivity"/>).</summary>
    public DeviceActivity Devices { get; } = new();

    /// <summary>A committed normalization round's measurements: their device-to-commit latency and their devices' last-seen times.</summary>
    public void OnNormalized(IReadOnlyList<Measurement> measurements, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        foreach (var m in measurements)
        {
            DeviceToCommitted.RecordSpan(m.OccurrenceTimeUtc, m.IngestionTimeUtc ?? now);
        }

        Devices.Seen(measurements);
    }

    /// <summary>A forwarding round's acknowledged groups (their outbox commit times).</summary>
    public void OnAcknowledged(IReadOnlyList<DateTime>? committedUtc, DateTime now)
    {
        foreach (var committed in committedUtc ?? [])
        {
            CommittedToAcknowledged.RecordSpan(committed, now);
        }
    }

    public void Dispose() => meter.Dispose();

    /// <summary>
    /// Every known label value starts at 0: a dead-letter series that appears only with its first dead letter cannot be
    /// alerted on by <c>increase()</c> (Prometheus sees no increase from a series it has never seen). Counters are
    /// cumulative in the exporter, so a seeded series never expires either.
    /// </summary>
    private void SeedKnownLabels()
    {
        Normalized.Add(0);
        Forwarded.Add(0);
        foreach (var reason in NormalizeReasons)
        {
            DeadLettered.Add(0, new KeyValuePair<string, object?>("reason", reason), NormalizeStage);
        }

        DeadLettered.Add(0, new KeyValuePair<string, object?>("reason", OutboxForwarder.RejectedCode), ForwardStage);
        foreach (var worker in Workers)
        {
            WorkerFaults.Add(0, new KeyValuePair<string, object?>("worker", worker));
        }

        MappingReloads.Add(0, new KeyValuePair<string, object?>("result", "applied"));
        MappingReloads.Add(0, new KeyValuePair<string, object?>("result", "rejected"));
    }
}
