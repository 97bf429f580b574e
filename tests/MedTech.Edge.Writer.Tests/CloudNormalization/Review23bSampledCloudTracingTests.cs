using MedTech.Edge.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// Second review of issue 23 (tracing), failing on purpose. On the gateway-group path the persist span is a child of the
/// batch's first SAMPLED consume span and links only sampled ones (MeasurementWriter.WriteAsync uses
/// PipelineTracing.FirstRecorded/IsRecorded). The cloud-normalization path added this session
/// (MeasurementWriter.WriteNormalizedAsync) still takes persistSpans.FirstOrDefault() as parent and links all the
/// rest. Each device message's consume span is a root there, sampled on its own (parentbased_traceidratio), so: when
/// the batch's first message was not sampled the persist span is dropped, and the sampled readings of that batch have
/// no persist stage at all; when it was, the persist span links consume spans that were never exported (dangling
/// links, and the link cost the 5 % budget was cut for). Real parts: mock cluster, FHIR test server.
/// Fix: FirstRecorded(persistSpans) as parent, persistSpans.Where(IsRecorded) as links, as in WriteAsync.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class Review23bSampledCloudTracingTests : WriterPipelineTest
{
    private const string DeviceTopic = "devices";
    private const int Readings = 20;
    private readonly PipelineTracingTests.SpanList spans = new();

    public Review23bSampledCloudTracingTests()
        : base("medtech-review23b-cloudsampled-", (DeviceTopic, 1)) =>
        // As OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.5 configures it.
        Own(Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Writer.Name).SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(0.5)))
            .AddInMemoryExporter(spans).Build());

    [Fact]
    public async Task Review23b_CloudNormalizationUnderARatioSampler_PersistReachesEverySampledConsumeAndLinksOnlyExportedOnes()
    {
        var readings = Enumerable.Range(0, Readings)
            .Select(i => new VitalSigns.Message("cloud-dev-7QK1", "cloud-pt-5RTW", new DateTime(2026, 11, 24, 10, 0, i, DateTimeKind.Utc), 70 + i, 97, 15, 36.9m, 118, 77)).ToList();
        // Produced before the writer starts, so that batches hold several messages each.
        using (var producer = new Confluent.Kafka.ProducerBuilder<string, byte[]>(new Confluent.Kafka.ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            foreach (var reading in readings)
            {
                await producer.ProduceAsync(DeviceTopic, new Confluent.Kafka.Message<string, byte[]> { Key = "cloud-dev-7QK1", Value = reading.Json() });
            }
        }

        using (var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
        {
            ["Hub:Topic"] = DeviceTopic,
            ["Writer:Input"] = "DeviceMessages",
            ["Writer:DeviceMappingPath"] = VitalSigns.DeviceMapping,
            ["Writer:ConsumerGroup"] = "fhir-writer-cloud",
            ["Writer:InHandPath"] = Path.Combine(folder, "cloud-inhand.json"),
        }))
        {
            await writer.StartAsync();
            var fhir = VitalSigns.Client(server.BaseUrl);
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == Readings * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
            // Stopped, every span has ended and been exported.
            await writer.StopAsync();
        }

        var all = spans.Snapshot();
        var sampledConsumes = all.Where(s => s.DisplayName == "consume").Select(s => s.SpanId).ToHashSet();
        // Each consume span is a root sampled on its own: 20 coin tosses, all alike once in 2^19.
        Assert.InRange(sampledConsumes.Count, 1, Readings - 1);

        var persists = all.Where(s => s.DisplayName == "persist").ToList();
        var linked = persists.SelectMany(p => p.Links.Select(l => l.Context.SpanId)).ToList();
        var dangling = linked.Count(l => !sampledConsumes.Contains(l));
        var reached = persists.SelectMany(p => p.Links.Select(l => l.Context.SpanId).Append(p.ParentSpanId)).ToHashSet();
        var orphaned = sampledConsumes.Count(c => !reached.Contains(c));

        Assert.True(dangling == 0 && orphaned == 0,
            $"{sampledConsumes.Count} of {Readings} consume spans sampled, {persists.Count} persist spans exported: {orphaned} sampled consume spans reached by no persist span, {dangling} links to consume spans never exported");
    }
}
