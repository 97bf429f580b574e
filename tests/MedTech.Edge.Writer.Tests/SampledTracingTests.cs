using System.Diagnostics;
using MedTech.Edge.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Sampling decides once per reading, at ingest (<c>OTEL_TRACES_SAMPLER=parentbased_traceidratio</c>): a reading is
/// traced at every stage or at none. A stage after ingest that started a trace of its own (a new root where the ingest
/// was not sampled) would fragment traces and spend the budget sampling is meant to save; with a ratio of 0.5 such a
/// root would be sampled half the time, so it shows among the exported spans. Real parts: embedded MQTT broker, LiteDB
/// buffer, librdkafka's mock cluster, the FHIR test server. Runs alone with <see cref="PipelineTracingTests"/>.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class SampledTracingTests : WriterPipelineTest
{
    private readonly PipelineTracingTests.SpanList gatewaySpans = new();
    private readonly PipelineTracingTests.SpanList writerSpans = new();

    public SampledTracingTests()
        : base("medtech-sampled-", ("measurements", 2))
    {
        // As OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.5 configures it.
        Own(Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Gateway.Name).SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(0.5)))
            .AddInMemoryExporter(gatewaySpans).Build());
        Own(Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Writer.Name).SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(0.5)))
            .AddInMemoryExporter(writerSpans).Build());
    }

    [Fact]
    public async Task GivenARatioSamplerAtIngest_WhenReadingsFlowToFhir_ThenNoLaterStageStartsATraceAndEverySampledSpanBelongsToASampledIngest()
    {
        var messages = VitalSigns.Messages(devices: 4, perDevice: 10);
        await ChartThroughGatewayAndWriterAsync(messages);

        var spans = gatewaySpans.Snapshot().Concat(writerSpans.Snapshot()).ToList();
        var ingests = spans.Where(s => s.DisplayName == "ingest").ToList();
        var sampledTraces = ingests.Select(s => s.TraceId).ToHashSet();

        // About half the readings were sampled (each ingest alone decides: 40 coin tosses, all alike once in 2^39).
        Assert.InRange(ingests.Count, 1, messages.Count - 1);
        Assert.All(ingests, s => Assert.Equal(default, s.ParentSpanId));

        // No other stage is a root, and each belongs to the trace of a sampled ingest.
        var later = spans.Where(s => s.DisplayName != "ingest").ToList();
        Assert.All(later, s => Assert.NotEqual(default, s.ParentSpanId));
        Assert.All(later, s => Assert.Contains(s.TraceId, sampledTraces));

        // Sampled readings are followed to FHIR: every stage appears, in sampled traces only.
        Assert.Superset(new HashSet<string> { "ingest", "normalize", "group", "forward", "consume", "transform", "persist" }, spans.Select(s => s.DisplayName).ToHashSet());

        // Each sampled reading's normalize span is there; an unsampled one has none.
        Assert.Equal(ingests.Count, spans.Count(s => s.DisplayName == "normalize"));

        // Links name sampled spans only (a link to a span never exported leads nowhere).
        var exported = spans.Select(s => s.SpanId).ToHashSet();
        Assert.All(spans.SelectMany(s => s.Links), l => Assert.Contains(l.Context.SpanId, exported));
    }
}
