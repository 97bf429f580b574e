using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Readings whose ingest the sampler dropped carry no trace context through the gateway (nothing stored, no span at
/// any stage), yet the writer must not start a trace of its own for them: each hub message of unsampled groups carries
/// a fresh traceparent flagged unsampled, which the writer's parent-based sampler continues unsampled. The writer here
/// samples every root it would start (parent-based always-on), so a root would show among its exported spans. Real
/// parts: embedded MQTT broker, LiteDB buffer, librdkafka's mock cluster, the FHIR test server. Runs alone with
/// <see cref="PipelineTracingTests"/>.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class UnsampledTracingTests : WriterPipelineTest
{
    private const string Topic = "measurements";
    private readonly PipelineTracingTests.SpanList gatewaySpans = new();
    private readonly PipelineTracingTests.SpanList writerSpans = new();

    public UnsampledTracingTests()
        : base("medtech-unsampled-", (Topic, 2))
    {
        // As OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0 configures the gateway: every ingest dropped.
        Own(Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Gateway.Name).SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(0)))
            .AddInMemoryExporter(gatewaySpans).Build());
        Own(Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Writer.Name).SetSampler(new ParentBasedSampler(new AlwaysOnSampler()))
            .AddInMemoryExporter(writerSpans).Build());
    }

    [Fact]
    public async Task GivenReadingsWhoseIngestWasNotSampled_WhenTheyFlowToFhir_ThenEveryHubMessageCarriesAnUnsampledTraceParentAndTheWriterStartsNoRoot()
    {
        var messages = VitalSigns.Messages(devices: 3, perDevice: 4);
        await ChartThroughGatewayAndWriterAsync(messages);

        // Nothing recorded at either end: no gateway stage made a root, and the writer continued every hub message unsampled.
        Assert.Empty(gatewaySpans.Snapshot());
        Assert.Empty(writerSpans.Snapshot());

        // Each hub message: a valid traceparent flagged 00, a trace id of its own (no reading's, none shared).
        var hub = HubReader.Read(cluster.BootstrapServers, Topic, r => r.Count > 0, TimeSpan.FromSeconds(30));
        Assert.NotEmpty(hub);
        var contexts = hub.Select(m => PipelineTracing.Parse(Encoding.UTF8.GetString(m.Headers.GetLastBytes(PipelineTracing.TraceParentHeader)))).ToList();
        Assert.All(contexts, c => Assert.NotEqual(default, c));
        Assert.All(contexts, c => Assert.False(PipelineTracing.IsRecorded(c)));
        Assert.Equal(contexts.Count, contexts.Select(c => c.TraceId).Distinct().Count());
    }

    [Fact]
    public async Task GivenGroupsInOneProcessWithoutAStoredContext_WhenWritten_ThenTheWriterMakesNoSpanForThemAndContinuesOnlyTheSampledOne()
    {
        // One process (medtech run): the writer is handed the gateway's stored contexts, default where a group was not sampled.
        var options = new FhirServerOptions { Url = server.BaseUrl };
        var client = new FhirServerClient(new HttpClient { BaseAddress = server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
        using var identity = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
        using var persister = new ObservationPersister(client, identity, FhirMapping.Load(VitalSigns.FhirMapping).EnsureValid("vital signs"), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        using var metrics = new WriterMetrics(client);
        var writer = new MeasurementWriter(persister, metrics, new ModuleHealth(), Options.Create(new WriterOptions()), NullLogger<MeasurementWriter>.Instance);

        Assert.Empty(await writer.WriteAsync([Group(0), Group(1)], default, traces: [default, default]));
        Assert.Empty(writerSpans.Snapshot());

        var sampled = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        Assert.Empty(await writer.WriteAsync([Group(2), Group(3)], default, traces: [default, sampled]));
        var spans = writerSpans.Snapshot();
        Assert.Equal(["persist", "transform"], spans.Select(s => s.DisplayName).Order(StringComparer.Ordinal));
        Assert.All(spans, s => Assert.Equal(sampled.TraceId, s.TraceId));
        Assert.Equal(sampled.SpanId, Assert.Single(spans, s => s.DisplayName == "transform").ParentSpanId);
    }

    /// <summary>A heart-rate measurement group as the gateway stores it, minute <paramref name="minute"/>.</summary>
    private static (string Key, byte[] Payload) Group(int minute) => ("monitor-u1", MeasurementGroupJson.Serialize(Assert.Single(MeasurementGrouper.Group(
    [
        new Measurement
        {
            Type = "heartRate",
            OccurrenceTimeUtc = new DateTime(2026, 11, 24, 10, minute, 0, DateTimeKind.Utc),
            DeviceId = "monitor-u1",
            PatientId = "patient-u1",
            Properties = [new MeasurementProperty("heartRate", "72")],
        },
    ]))));
}
