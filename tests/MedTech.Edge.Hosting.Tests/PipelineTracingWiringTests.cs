using System.Diagnostics;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>
/// Tracing is on only with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>: without it no tracer provider exists, so the pipeline's
/// sources have no listener and start no span (nothing to export); with it, the sources' spans are recorded for OTLP.
/// The tests of this class run one after the other; no other class in this assembly starts a tracer provider.
/// </summary>
public sealed class PipelineTracingWiringTests
{
    [Fact]
    public void GivenNoOtlpEndpoint_WhenAModuleRegistersMonitoring_ThenNoTracerProviderExistsAndNoSpanIsStarted()
    {
        Assert.True(string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(MonitoringExtensions.OtlpEndpointVariable)), "the test process must run without the variable");
        using var host = Build(services => services.AddMonitoring());

        Assert.Null(host.Services.GetService<TracerProvider>());
        Assert.False(PipelineTracing.Gateway.HasListeners());
        Assert.False(PipelineTracing.Writer.HasListeners());
        Assert.Null(PipelineTracing.Gateway.StartActivity("ingest"));
        Assert.Null(PipelineTracing.StartDetached(PipelineTracing.Writer, "consume", ActivityKind.Consumer, default));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void GivenABlankOtlpEndpoint_WhenTracingIsAdded_ThenNothingIsRegistered(string endpoint)
    {
        using var host = Build(services => services.AddPipelineTracing(endpoint));
        Assert.Null(host.Services.GetService<TracerProvider>());
        Assert.False(PipelineTracing.Gateway.HasListeners());
    }

    [Fact]
    public void GivenAnOtlpEndpoint_WhenTracingIsAdded_ThenTheGatewayAndWriterSourcesAreRecordedUntilTheHostIsDisposed()
    {
        // Registered twice (gateway and writer in one process): one provider.
        using (var host = Build(services => services.AddPipelineTracing("http://127.0.0.1:4318").AddPipelineTracing("http://127.0.0.1:4318")))
        {
            Assert.NotNull(host.Services.GetService<TracerProvider>());
            Assert.Single(host.Services.GetServices<TracerProvider>());
            using var ingest = PipelineTracing.Gateway.StartActivity("ingest");
            Assert.NotNull(ingest);
            Assert.True(ingest.Recorded);
            using var consume = PipelineTracing.StartDetached(PipelineTracing.Writer, "consume", ActivityKind.Consumer, ingest.Context);
            Assert.NotNull(consume);
            Assert.Equal(ingest.TraceId, consume.TraceId);

            // Detached: what runs next does not take the consume span for its parent.
            Assert.Same(ingest, Activity.Current);
        }

        Assert.False(PipelineTracing.Gateway.HasListeners());
    }

    [Theory]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true)]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", true)]
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01", false)]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", false)]
    [InlineData("not a traceparent", false)]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\0", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void GivenATraceParent_WhenParsed_ThenOnlyAValidOneGivesAContextThatFormatsBackAlike(string? traceParent, bool valid)
    {
        var context = PipelineTracing.Parse(traceParent);
        Assert.Equal(valid, context != default);
        Assert.Equal(valid ? traceParent : null, PipelineTracing.Format(context));
    }

    [Fact]
    public void GivenAMegabyteTraceParentOrTraceState_WhenParsed_ThenItIsRefusedOrDroppedWithoutParsing()
    {
        Assert.Equal(default, PipelineTracing.Parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" + new string('x', 1 << 20)));
        var context = PipelineTracing.Parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "a=" + new string('b', 1 << 20));
        Assert.NotEqual(default, context);
        Assert.Null(context.TraceState);
    }

    [Fact]
    public void GivenTheStandardParentBasedRatioSamplerAtZero_WhenARootIsDropped_ThenItIsNotRecordedAndAnUnsampledHubContextIsContinuedUnsampledNotAsANewRoot()
    {
        // The variables as an operator sets them (the SDK reads OTEL_* from the host's configuration, environment included).
        using var host = Build(services => services.AddPipelineTracing("http://127.0.0.1:4318"),
            new() { ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio", ["OTEL_TRACES_SAMPLER_ARG"] = "0" });

        // Ingest, dropped: a propagation-only span, not recorded (what tells ingest to store no context with the message).
        using var ingest = PipelineTracing.StartDetached(PipelineTracing.Gateway, "ingest", ActivityKind.Consumer, default);
        Assert.NotNull(ingest);
        Assert.False(ingest.Recorded);
        Assert.False(ingest.IsAllDataRequested);

        // A hub message of unsampled groups carries a fresh unsampled context: the writer's consume span continues it
        // (the same trace, not sampled), rather than starting a root its sampler might keep.
        var hub = PipelineTracing.Parse(PipelineTracing.NewUnsampledTraceParent());
        using var consume = PipelineTracing.StartDetached(PipelineTracing.Writer, "consume", ActivityKind.Consumer, hub);
        Assert.NotNull(consume);
        Assert.False(consume.Recorded);
        Assert.Equal(hub.TraceId, consume.TraceId);
        Assert.Equal(hub.SpanId, consume.ParentSpanId);

        // A local child of a dropped span is not made at all; links are not added to a span that records nothing.
        Assert.Null(PipelineTracing.StartDetached(PipelineTracing.Writer, "transform", ActivityKind.Internal, consume.Context));
        Assert.Empty(consume.Links);
    }

    /// <summary>
    /// The modules' appsettings.json name a sampler: the SDK's own default, with only an endpoint set, records every span
    /// (9-15 % more gateway CPU, docs/benchmarks.md); one trace id in a hundred costs nothing measurable. An operator's
    /// OTEL_TRACES_SAMPLER / _ARG in the environment (a later configuration source) still wins.
    /// </summary>
    [Theory]
    [InlineData("EdgeGateway")]
    [InlineData("FhirWriter")]
    public void GivenAModulesShippedSettings_WhenTracingIsOn_ThenAboutOneReadingInAHundredIsTracedUnlessTheOperatorNamesAnotherSampler(string module)
    {
        var settings = Repository.PathOf("modules", module, "appsettings.json");
        int Recorded(Dictionary<string, string?>? environment)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddJsonFile(settings).AddInMemoryCollection(environment ?? []);
            builder.Services.AddPipelineTracing("http://127.0.0.1:4318");
            using var host = builder.Build();
            _ = host.Services.GetService<TracerProvider>();
            var recorded = 0;
            for (var i = 0; i < 20_000; i++)
            {
                using var ingest = PipelineTracing.StartDetached(PipelineTracing.Gateway, "ingest", ActivityKind.Consumer, default);
                recorded += ingest is { Recorded: true } ? 1 : 0;
            }

            return recorded;
        }

        // 1 % of 20,000 random trace ids: 200, standard deviation 14.
        Assert.InRange(Recorded(null), 100, 300);
        Assert.Equal(20_000, Recorded(new() { ["OTEL_TRACES_SAMPLER"] = "always_on" }));
        Assert.InRange(Recorded(new() { ["OTEL_TRACES_SAMPLER_ARG"] = "0.5" }), 9_000, 11_000);
    }

    [Fact]
    public void GivenNewUnsampledTraceParents_WhenParsed_ThenEachIsAValidUnsampledContextOfItsOwnTrace()
    {
        var first = PipelineTracing.NewUnsampledTraceParent();
        var second = PipelineTracing.NewUnsampledTraceParent();

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-00$", first);
        var (a, b) = (PipelineTracing.Parse(first), PipelineTracing.Parse(second));
        Assert.NotEqual(default, a);
        Assert.False(PipelineTracing.IsRecorded(a));
        Assert.Equal(first, PipelineTracing.Format(a));
        Assert.NotEqual(a.TraceId, b.TraceId);
    }

    [Fact]
    public void GivenASpanWithManyLinks_WhenStarted_ThenEachLinkIsAddedOnceWithoutTheParentOrDefaultAndAtMostTheCap()
    {
        using var host = Build(services => services.AddPipelineTracing("http://127.0.0.1:4318"));
        var parent = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        var others = Enumerable.Range(0, PipelineTracing.MaxLinks + 10)
            .Select(_ => new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded)).ToList();
        var few = new[] { parent, default, others[0], others[1], others[0], others[1] };

        using (var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, "group", ActivityKind.Internal, parent, few))
        {
            Assert.NotNull(span);
            Assert.Equal(parent.SpanId, span.ParentSpanId);
            Assert.Equal([others[0], others[1]], span.Links.Select(l => l.Context));
        }

        using var many = PipelineTracing.StartDetached(PipelineTracing.Gateway, "forward", ActivityKind.Producer, parent, others);
        Assert.NotNull(many);
        Assert.Equal(others.Take(PipelineTracing.MaxLinks), many.Links.Select(l => l.Context));
    }

    [Fact]
    public void GivenContextsOfABatch_WhenItsParentIsChosen_ThenTheFirstSampledOneElseTheFirstTracedOne()
    {
        ActivityContext Context(bool sampled) => new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), sampled ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None);
        var (unsampled, sampled, laterSampled) = (Context(false), Context(true), Context(true));

        Assert.Equal(sampled, PipelineTracing.FirstRecorded([default, unsampled, sampled, laterSampled]));
        Assert.Equal(unsampled, PipelineTracing.FirstRecorded([default, unsampled, Context(false)]));
        Assert.Equal(default, PipelineTracing.FirstRecorded([default]));
        Assert.Equal(default, PipelineTracing.FirstRecorded([]));
    }

    private static IHost Build(Action<IServiceCollection> add, Dictionary<string, string?>? configuration = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(configuration ?? []) { ["Monitoring:Port"] = "0" });
        add(builder.Services);
        var host = builder.Build();
        _ = host.Services.GetService<TracerProvider>();
        return host;
    }
}
