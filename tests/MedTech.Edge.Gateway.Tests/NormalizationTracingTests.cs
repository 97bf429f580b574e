using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Normalize and Group's spans under sampling, on a real LiteDB buffer, with the SDK's parent-based sampler (what
/// <c>OTEL_TRACES_SAMPLER=parentbased_*</c> gives): the stored ingest context decides. A message whose ingest was not
/// sampled (no context stored, or an older release's flagged 00) gets no span and is not continued; a group's span
/// continues its earliest SAMPLED message; a group of unsampled messages gets no span and stores no context. No stage
/// here starts a root (the sampler used would record one). A tracer provider listens to the whole process: this class
/// runs alone, after the parallel tests.
/// </summary>
[Collection(nameof(NormalizationTracingTests))]
public sealed class NormalizationTracingTests : IDisposable
{
    private static readonly DateTime Received = new(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-gateway-tracing-").FullName;
    private readonly GatewayStore store;
    private readonly List<Activity> spans = [];
    private readonly TracerProvider tracing;

    public NormalizationTracingTests()
    {
        store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });
        tracing = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Gateway.Name).SetSampler(new ParentBasedSampler(new AlwaysOnSampler()))
            .AddInMemoryExporter(spans).Build();
    }

    public void Dispose()
    {
        tracing.Dispose();
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void GivenAGroupWhoseEarliestMessageWasNotSampled_WhenNormalized_ThenItsSpanContinuesTheEarliestSampledMessageAndLinksOnlySampledOnes()
    {
        var (sampled, laterSampled) = (Ingest(true), Ingest(true));
        store.Append([Message("bed-1", 0, null), Message("bed-1", 1, sampled), Message("bed-1", 2, laterSampled)]);

        Stage().RunOnce(10);
        tracing.ForceFlush();

        // One normalize span per sampled message, each the child of its ingest; none for the unsampled one.
        var normalize = spans.Where(s => s.DisplayName == "normalize").ToList();
        Assert.Equal(2, normalize.Count);
        Assert.Equal(new HashSet<ActivitySpanId> { sampled.SpanId, laterSampled.SpanId }, normalize.Select(s => s.ParentSpanId).ToHashSet());
        var group = Assert.Single(spans, s => s.DisplayName == "group");
        var first = normalize.Single(s => s.ParentSpanId == sampled.SpanId);
        var later = normalize.Single(s => s.ParentSpanId == laterSampled.SpanId);
        Assert.Equal((sampled.TraceId, first.SpanId), (group.TraceId, group.ParentSpanId));
        Assert.Equal([later.Context.SpanId], group.Links.Select(l => l.Context.SpanId));
        Assert.Equal(2, (int)group.GetTagItem("medtech.sampled_messages")!);

        // The outbox entry carries the group span's context, sampled, for forward to continue.
        Assert.Equal(PipelineTracing.Format(group.Context), Assert.Single(store.ReadOutbox(10)).TraceParent);
    }

    [Fact]
    public void GivenAGroupOfUnsampledMessagesOnly_WhenNormalized_ThenNoSpanIsMadeAndTheEntryStoresNoTraceContext()
    {
        // One without a context (as ingest stores a dropped reading now), one flagged 00 (as an earlier release stored it).
        store.Append([Message("bed-2", 0, null), Message("bed-2", 1, Ingest(false))]);

        Stage().RunOnce(10);
        tracing.ForceFlush();

        Assert.Empty(spans);
        Assert.Null(Assert.Single(store.ReadOutbox(10)).TraceParent);
    }

    [Fact]
    public void GivenARoundOfSampledAndUnsampledDevices_WhenNormalized_ThenOnlyTheSampledDevicesGroupHasASpanAndAContext()
    {
        var sampled = Ingest(true);
        store.Append([Message("bed-3", 0, null), Message("bed-4", 0, sampled), Message("bed-3", 1, null)]);

        Stage().RunOnce(10);
        tracing.ForceFlush();

        Assert.Equal(sampled.SpanId, Assert.Single(spans, s => s.DisplayName == "normalize").ParentSpanId);
        var group = Assert.Single(spans, s => s.DisplayName == "group");
        Assert.Equal(2, spans.Count);
        var outbox = store.ReadOutbox(10);
        Assert.Equal(2, outbox.Count);
        Assert.Equal(PipelineTracing.Format(group.Context), Assert.Single(outbox, e => e.TraceParent is not null).TraceParent);
    }

    private static ActivityContext Ingest(bool sampled) =>
        new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), sampled ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None, isRemote: true);

    private NormalizationStage Stage()
    {
        var mapping = DeviceMapping.Parse("""
            {"templateType": "CollectionContent", "template": [{"templateType": "IotJsonPathContent", "template": {
              "typeName": "heartrate", "typeMatchExpression": "$..[?(@Body.hr)]",
              "values": [{"valueName": "hr", "valueExpression": "$.Body.hr", "required": true}]}}]}
            """).EnsureValid("test");
        return new NormalizationStage(store, new DeviceMappingSource(new Normalizer(mapping)), NullLogger<NormalizationStage>.Instance);
    }

    // Each message a second later: the group keeps one reading per time.
    private static InboxMessage Message(string client, int second, ActivityContext? ingest) =>
        new(client, $"ward/icu/{client}", "{\"hr\": 72}"u8.ToArray(), Received.AddSeconds(second), new Dictionary<string, string>()) { TraceParent = ingest is { } context ? PipelineTracing.Format(context) : null };
}

/// <summary>Runs <see cref="NormalizationTracingTests"/> after the parallel tests, on their own.</summary>
[CollectionDefinition(nameof(NormalizationTracingTests), DisableParallelization = true)]
public sealed class NormalizationTracingTestsRunAlone;
