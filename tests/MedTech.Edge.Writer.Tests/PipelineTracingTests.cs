using System.Diagnostics;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// One reading's spans, exported in memory by a tracer provider for the gateway's source and another for the writer's,
/// through the real parts (embedded MQTT broker, LiteDB buffer, librdkafka's mock cluster, the FHIR test server): they
/// share one trace id from ingest to persist, through a gateway restart too, and carry no device or patient id. A
/// tracer provider listens to every host in the process: these tests run alone, so every span is of their reading.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class PipelineTracingTests : WriterPipelineTest
{
    // Ids no other test uses: found anywhere in a span, they are this test's patient data leaking.
    private const string DeviceId = "bedside-7Q3Z";
    private const string PatientId = "pt-9XK2";

    private readonly SpanList gatewaySpans = new();
    private readonly SpanList writerSpans = new();
    private readonly TracerProvider gatewayTracing;
    private readonly TracerProvider writerTracing;

    public PipelineTracingTests()
        : base("medtech-tracing-", ("measurements", 2))
    {
        gatewayTracing = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Gateway.Name).AddInMemoryExporter(gatewaySpans).Build();
        writerTracing = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Writer.Name).AddInMemoryExporter(writerSpans).Build();
        Own(gatewayTracing);
        Own(writerTracing);
    }

    private static VitalSigns.Message Reading(int second) => new(DeviceId, PatientId, new DateTime(2026, 11, 24, 9, 0, second, DateTimeKind.Utc), 71, 97, 14, 36.8m, 121, 79);

    [Fact]
    public async Task GivenOneReading_WhenItFlowsFromBedsideToFhir_ThenItsGatewayAndWriterSpansShareOneTraceIdAndNameNoDeviceOrPatient()
    {
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await gateway.StartAsync();
        await writer.StartAsync();

        await VitalSigns.PublishAsync(mqttPort, [Reading(0)]);
        var trace = await TraceOfPersistedReadingAsync();

        var gatewayNames = gatewaySpans.Snapshot().Where(s => s.TraceId == trace).Select(s => s.DisplayName).ToHashSet();
        var writerNames = writerSpans.Snapshot().Where(s => s.TraceId == trace).Select(s => s.DisplayName).ToHashSet();
        Assert.Superset(new HashSet<string> { "ingest", "normalize", "group", "forward" }, gatewayNames);
        Assert.Superset(new HashSet<string> { "consume", "transform", "persist" }, writerNames);
        AssertParentChain(trace);
        AssertNoPatientData();

        await writer.StopAsync();
        await gateway.StopAsync();
    }

    [Fact]
    public async Task GivenAGroupStoredWhileTheHubWasUnreachable_WhenTheGatewayRestarts_ThenTheForwardSpanContinuesTheTraceBegunBeforeTheRestart()
    {
        // The first gateway cannot reach any hub: the reading's groups wait in the outbox (LiteDB) with their traceparent.
        using (var first = TestHosts.Gateway(folder, mqttPort, "127.0.0.1:1"))
        {
            await first.StartAsync();
            await VitalSigns.PublishAsync(mqttPort, [Reading(1)]);
            await Eventually.HoldsAsync(() => gatewaySpans.Snapshot().Count(s => s.DisplayName == "group") >= VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(30));
            await first.StopAsync();
        }

        var ingest = Assert.Single(gatewaySpans.Snapshot(), s => s.DisplayName == "ingest");
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await gateway.StartAsync();
        await writer.StartAsync();

        var trace = await TraceOfPersistedReadingAsync();
        Assert.Equal(ingest.TraceId, trace);
        AssertParentChain(trace);
        AssertNoPatientData();

        await writer.StopAsync();
        await gateway.StopAsync();
    }

    /// <summary>Waits for the reading's five Observations and the writer's spans of it; returns the trace of its persist span.</summary>
    private async Task<ActivityTraceId> TraceOfPersistedReadingAsync()
    {
        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));

        // The consume span ends once the batch is written; the gateway's forward span once the hub acknowledged.
        var ingestTraces = () => gatewaySpans.Snapshot().Where(s => s.DisplayName == "ingest").Select(s => s.TraceId).ToHashSet();
        await Eventually.HoldsAsync(() => writerSpans.Snapshot().Any(s => s.DisplayName == "consume" && ingestTraces().Contains(s.TraceId)), TimeSpan.FromSeconds(30),
            () => $"{writerSpans.Snapshot().Count} writer spans, {ingestTraces().Count} ingest traces");
        return writerSpans.Snapshot().First(s => s.DisplayName == "persist" && ingestTraces().Contains(s.TraceId)).TraceId;
    }

    /// <summary>consume's parent is forward, forward's is a group span, whose parent is normalize, whose parent is ingest: parents, not only one trace id.</summary>
    private void AssertParentChain(ActivityTraceId trace)
    {
        var spans = gatewaySpans.Snapshot().Concat(writerSpans.Snapshot()).Where(s => s.TraceId == trace).ToList();
        var bySpanId = spans.ToDictionary(s => s.SpanId);
        var consume = spans.First(s => s.DisplayName == "consume");
        var forward = bySpanId[consume.ParentSpanId];
        Assert.Equal("forward", forward.DisplayName);
        Assert.Equal(ActivityKind.Producer, forward.Kind);
        var group = bySpanId[forward.ParentSpanId];
        Assert.Equal("group", group.DisplayName);
        var normalize = bySpanId[group.ParentSpanId];
        Assert.Equal("normalize", normalize.DisplayName);
        Assert.Equal("ingest", bySpanId[normalize.ParentSpanId].DisplayName);
        Assert.All(spans.Where(s => s.DisplayName is "transform" or "persist"), s => Assert.Equal("consume", bySpanId[s.ParentSpanId].DisplayName));
    }

    /// <summary>No span of either module names the device or the patient: name, attributes, status, events, links' attributes.</summary>
    private void AssertNoPatientData()
    {
        var spans = gatewaySpans.Snapshot().Concat(writerSpans.Snapshot()).ToList();
        Assert.NotEmpty(spans);
        foreach (var span in spans)
        {
            var texts = new[] { span.DisplayName, span.OperationName, span.StatusDescription ?? "", span.TraceStateString ?? "" }
                .Concat(span.TagObjects.Select(t => $"{t.Key}={t.Value}"))
                .Concat(span.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name} {t.Key}={t.Value}")))
                .Concat(span.Baggage.Select(b => $"{b.Key}={b.Value}"));
            foreach (var text in texts)
            {
                Assert.DoesNotContain(DeviceId, text, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(PatientId, text, StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    /// <summary>The in-memory exporter's list, locked: spans end on librdkafka's and the workers' threads while the test reads.</summary>
    internal sealed class SpanList : ICollection<Activity>
    {
        private readonly List<Activity> spans = [];

        public int Count
        {
            get
            {
                lock (spans)
                {
                    return spans.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public List<Activity> Snapshot()
        {
            lock (spans)
            {
                return [.. spans];
            }
        }

        public void Add(Activity item)
        {
            lock (spans)
            {
                spans.Add(item);
            }
        }

        public void Clear()
        {
            lock (spans)
            {
                spans.Clear();
            }
        }

        public bool Contains(Activity item) => Snapshot().Contains(item);

        public void CopyTo(Activity[] array, int arrayIndex) => Snapshot().CopyTo(array, arrayIndex);

        public bool Remove(Activity item)
        {
            lock (spans)
            {
                return spans.Remove(item);
            }
        }

        public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

/// <summary>Runs <see cref="PipelineTracingTests"/> after the parallel tests, on their own.</summary>
[CollectionDefinition(nameof(PipelineTracingTests), DisableParallelization = true)]
public sealed class PipelineTracingTestsRunAlone;
