using System.Diagnostics.Metrics;
using MedTech.Edge.Fhir.Server;

namespace MedTech.Edge.Writer;

/// <summary>
/// The writer's metrics (meter <c>MedTech.Edge.Writer</c>): measurements consumed, Observations by outcome, FHIR
/// requests, errors by reason, consumer lag. Labels never carry device or patient ids.
/// </summary>
public sealed class WriterMetrics : IDisposable
{
    public const string MeterName = "MedTech.Edge.Writer";
    private readonly Meter meter = new(MeterName);
    private long lag;

    public WriterMetrics(FhirServerClient server)
    {
        ArgumentNullException.ThrowIfNull(server);
        Consumed = meter.CreateCounter<long>("measurements.consumed", description: "Measurements taken from the hub (or the outbox).");
        Groups = meter.CreateCounter<long>("groups.consumed", description: "Measurement groups taken from the hub (or the outbox).");
        Observations = meter.CreateCounter<long>("observations", description: "Observations by outcome: created, updated, unchanged.");
        Errors = meter.CreateCounter<long>("errors", description: "Measurement groups dead-lettered, by reason code.");
        DeviceMessages = meter.CreateCounter<long>("device_messages", description: "Cloud normalization (Writer:Input=DeviceMessages): device messages by outcome: normalized, failed (dead-lettered).");
        Provenance = meter.CreateCounter<long>("provenance", description: "Provenance resources by outcome: written, failed (their Observations are written all the same).");
        meter.CreateObservableCounter("fhir.requests", () => server.RequestCount, description: "HTTP requests to the FHIR server, retries included.");
        meter.CreateObservableGauge("consumer.lag", () => Interlocked.Read(ref lag), description: "Hub messages not yet consumed, over the assigned partitions.");
    }

    public Counter<long> Consumed { get; }

    public Counter<long> Groups { get; }

    public Counter<long> Observations { get; }

    public Counter<long> Errors { get; }

    public Counter<long> Provenance { get; }

    public Counter<long> DeviceMessages { get; }

    public void SetLag(long value) => Interlocked.Exchange(ref lag, value);

    public void Dispose() => meter.Dispose();
}
