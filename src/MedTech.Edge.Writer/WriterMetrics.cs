using System.Diagnostics.Metrics;
using System.Reflection;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer;

/// <summary>
/// The writer's metrics (meter <c>MedTech.Edge.Writer</c>): measurements consumed, Observations by outcome, FHIR
/// requests, errors by reason, consumer lag, and the stage latencies hub enqueue → written and device time → written
/// (freshness), as histograms with <see cref="MonitoringExtensions.LatencyBucketsSeconds"/>. Every known reason and outcome
/// starts at 0. Labels never carry device or patient ids.
/// </summary>
public sealed class WriterMetrics : IDisposable
{
    public const string MeterName = "MedTech.Edge.Writer";
    private readonly Meter meter = new(MeterName);
    private long lag;

    private readonly TimeProvider time;

    public WriterMetrics(FhirServerClient server, TimeProvider? timeProvider = null)
    {
        time = timeProvider ?? TimeProvider.System;
        ArgumentNullException.ThrowIfNull(server);
        Consumed = meter.CreateCounter<long>("measurements.consumed", description: "Measurements taken from the hub (or the outbox).");
        Groups = meter.CreateCounter<long>("groups.consumed", description: "Measurement groups taken from the hub (or the outbox).");
        Observations = meter.CreateCounter<long>("observations", description: "Observations by outcome: created, updated, unchanged.");
        Errors = meter.CreateCounter<long>("errors", description: "Measurement groups dead-lettered, by reason code.");
        DeviceMessages = meter.CreateCounter<long>("device_messages", description: "Cloud normalization (Writer:Input=DeviceMessages): device messages by outcome: normalized, failed (dead-lettered).");
        Provenance = meter.CreateCounter<long>("provenance", description: "Provenance resources by outcome: written, failed (their Observations are written all the same).");
        SeedKnownLabels();
        HubToWritten = meter.CreateLatencyHistogram("latency.hub_to_written_seconds",
            "From a hub message's enqueue time (its Kafka timestamp) to the end of its handling (written to the FHIR server, its refused groups dead-lettered), per hub message.");
        DeviceToWritten = meter.CreateLatencyHistogram("latency.device_to_written_seconds",
            "Freshness: from a measurement's device time to its Observation written on the FHIR server, per measurement written (not dead-lettered).");
        meter.CreateObservableCounter("fhir.requests", () => server.RequestCount, description: "HTTP requests to the FHIR server, retries included.");
        meter.CreateObservableGauge("consumer.lag", () => Interlocked.Read(ref lag), description: "Hub messages not yet written to FHIR over the assigned partitions, the batch in hand included; kept current while a write waits.");
    }

    public Counter<long> Consumed { get; }

    public Counter<long> Groups { get; }

    public Counter<long> Observations { get; }

    public Counter<long> Errors { get; }

    public Counter<long> Provenance { get; }

    public Counter<long> DeviceMessages { get; }

    public Histogram<double> HubToWritten { get; }

    public Histogram<double> DeviceToWritten { get; }

    /// <summary>Hub messages whose write ended (<paramref name="enqueuedUtc"/>: their hub timestamps; unknown ones are skipped).</summary>
    public void OnWritten(IEnumerable<DateTime?> enqueuedUtc)
    {
        ArgumentNullException.ThrowIfNull(enqueuedUtc);
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var enqueued in enqueuedUtc)
        {
            if (enqueued is { } at)
            {
                HubToWritten.RecordSpan(at, now);
            }
        }
    }

    /// <summary>Measurements persisted (their Observations created, updated or found unchanged).</summary>
    public void OnPersisted(IEnumerable<Measurement> measurements)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var m in measurements)
        {
            DeviceToWritten.RecordSpan(m.OccurrenceTimeUtc, now);
        }
    }

    /// <summary>
    /// The reason codes a group or (cloud normalization) a device message can be dead-lettered with: every
    /// <see cref="FhirErrorCodes"/>, <see cref="WriterErrorCodes"/> and normalization <see cref="ErrorCodes"/> constant
    /// (DroppedEvent among them: MedTech's metric of that name, docs/medtech-metrics.md), and Poison.
    /// </summary>
    public static IReadOnlyList<string> Reasons { get; } = new[] { typeof(FhirErrorCodes), typeof(WriterErrorCodes), typeof(ErrorCodes) }
        .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static)).Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .Select(f => (string)f.GetRawConstantValue()!).Append(ErrorCodes.Poison).Distinct(StringComparer.Ordinal).ToList();

    public void SetLag(long value) => Interlocked.Exchange(ref lag, value);

    public void Dispose() => meter.Dispose();

    /// <summary>Every known reason and outcome at 0 from the start, so an alert on increase() sees the first one (see GatewayMetrics).</summary>
    private void SeedKnownLabels()
    {
        Consumed.Add(0);
        Groups.Add(0);
        foreach (var reason in Reasons)
        {
            Errors.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }

        foreach (var outcome in new[] { "created", "updated", "unchanged" })
        {
            Observations.Add(0, new KeyValuePair<string, object?>("outcome", outcome));
        }

        Provenance.Add(0, new KeyValuePair<string, object?>("outcome", "written"));
        Provenance.Add(0, new KeyValuePair<string, object?>("outcome", "failed"));

        // MedTech's DeviceEvent on the cloud path; 0 on a writer of gateway groups.
        DeviceMessages.Add(0, new KeyValuePair<string, object?>("outcome", "normalized"));
        DeviceMessages.Add(0, new KeyValuePair<string, object?>("outcome", "failed"));
    }
}
