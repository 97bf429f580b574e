using System.Diagnostics;
using LiteDB;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// What a reading the sampler dropped at ingest costs the gateway while tracing is on: nothing after its
/// propagation-only ingest span. No trace context is stored with it in the buffer (a real LiteDB file, read back raw),
/// no later stage makes a span for it (a root would be recorded by the sampler used here, and exported), and the hub
/// message of its groups carries a fresh traceparent flagged unsampled so that the writer does not start a trace
/// either. A tracer provider listens to the whole process: runs alone with <see cref="NormalizationTracingTests"/>.
/// </summary>
[Collection(nameof(NormalizationTracingTests))]
public sealed class UnsampledReadingTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-gateway-unsampled-").FullName;
    private readonly List<Activity> spans = [];
    private readonly TracerProvider tracing;

    public UnsampledReadingTests() =>
        // As OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0 configures it: every root dropped, every sampled parent continued.
        tracing = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Gateway.Name).SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(0)))
            .AddInMemoryExporter(spans).Build();

    public void Dispose()
    {
        tracing.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private string DatabasePath => Path.Combine(folder, "gateway.db");

    [Fact]
    public async Task GivenReadingsWhoseIngestWasDropped_WhenStoredAndNormalized_ThenNoInboxOrOutboxDocumentHasATraceFieldAndNoSpanIsMade()
    {
        var options = new BufferOptions { Path = DatabasePath };
        using (var store = new GatewayStore(options))
        {
            var writer = new InboxWriter(store, options);
            using var stop = new CancellationTokenSource();
            var commits = writer.RunAsync(stop.Token);
            var inbox = new TracedInbox(writer);
            await Task.WhenAll(Enumerable.Range(0, 5).Select(i => inbox.AppendAsync(Message("bed-1", i), default)));
            await stop.CancelAsync();
            await commits;

            Assert.All(store.ReadInbox(10), m => Assert.Null(m.TraceParent));
            Assert.Equal(5, store.ReadInbox(10).Count);
        }

        AssertNoTraceField("inbox");
        using (var store = new GatewayStore(options))
        {
            Stage(store).RunOnce(10);
            Assert.Empty(store.ReadInbox(10));
            Assert.All(store.ReadOutbox(10), e => Assert.Null(e.TraceParent));
            Assert.NotEmpty(store.ReadOutbox(10));
        }

        AssertNoTraceField("outbox");
        tracing.ForceFlush();
        Assert.Empty(spans);
    }

    [Fact]
    public void GivenGroupsNoneOfWhichWasSampled_WhenForwarded_ThenNoForwardSpanIsMadeAndTheHubMessageCarriesAFreshUnsampledTraceParent()
    {
        var entries = new[] { new OutboxEntry("bed-1", "{}"u8.ToArray(), DateTime.UtcNow), new OutboxEntry("bed-2", "{}"u8.ToArray(), DateTime.UtcNow) };

        var headers = new List<(string Name, string Text)>();
        using (var span = ForwardSpan.Start(entries, [0, 1], "kafka", "measurements"))
        {
            Assert.Null(span);
            ForwardSpan.Inject(span, (name, text) => headers.Add((name, text)));
        }

        var (name, text) = Assert.Single(headers);
        Assert.Equal(PipelineTracing.TraceParentHeader, name);
        var context = PipelineTracing.Parse(text);
        Assert.NotEqual(default, context);
        Assert.False(PipelineTracing.IsRecorded(context));

        // One trace id per hub message: the next one's differs.
        var next = new List<string>();
        ForwardSpan.Inject(null, (_, t) => next.Add(t));
        Assert.NotEqual(context.TraceId, PipelineTracing.Parse(Assert.Single(next)).TraceId);

        tracing.ForceFlush();
        Assert.Empty(spans);
    }

    [Fact]
    public void GivenAHubMessageWithASampledGroup_WhenForwarded_ThenItsForwardSpanContinuesThatGroupAndItsContextIsSent()
    {
        var sampled = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        var entries = new[]
        {
            new OutboxEntry("bed-1", "{}"u8.ToArray(), DateTime.UtcNow),
            new OutboxEntry("bed-2", "{}"u8.ToArray(), DateTime.UtcNow) { TraceParent = PipelineTracing.Format(sampled) },
        };

        var headers = new List<string>();
        var span = ForwardSpan.Start(entries, [0, 1], "kafka", "measurements");
        Assert.NotNull(span);
        ForwardSpan.Inject(span, (_, text) => headers.Add(text));
        ForwardSpan.End(span, error: null);

        Assert.Equal((sampled.TraceId, sampled.SpanId), (span.TraceId, span.ParentSpanId));
        Assert.Equal(PipelineTracing.Format(span.Context), Assert.Single(headers));
        tracing.ForceFlush();
        Assert.Single(spans);
    }

    private void AssertNoTraceField(string collection)
    {
        using var db = new LiteDatabase(DatabasePath);
        var documents = db.GetCollection(collection).FindAll().ToList();
        Assert.NotEmpty(documents);
        Assert.All(documents, d => Assert.False(d.ContainsKey("traces")));
    }

    private static NormalizationStage Stage(GatewayStore store)
    {
        var mapping = DeviceMapping.Parse("""
            {"templateType": "CollectionContent", "template": [{"templateType": "IotJsonPathContent", "template": {
              "typeName": "heartrate", "typeMatchExpression": "$..[?(@Body.hr)]",
              "values": [{"valueName": "hr", "valueExpression": "$.Body.hr", "required": true}]}}]}
            """).EnsureValid("test");
        return new NormalizationStage(store, new DeviceMappingSource(new Normalizer(mapping)), NullLogger<NormalizationStage>.Instance);
    }

    private static InboxMessage Message(string client, int second) =>
        new(client, $"ward/icu/{client}", "{\"hr\": 72}"u8.ToArray(), new DateTime(2026, 11, 24, 8, 30, second, DateTimeKind.Utc), new Dictionary<string, string>());
}
