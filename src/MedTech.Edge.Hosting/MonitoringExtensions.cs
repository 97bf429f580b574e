using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Hosting;

public static class MonitoringExtensions
{
    /// <summary>The modules' meters (MedTech.Edge.Gateway, MedTech.Edge.Writer): every one is exported on <c>/metrics</c>.</summary>
    public const string MeterPrefix = "MedTech.Edge.";

    /// <summary>
    /// Bucket bounds (seconds) of every stage-latency histogram: 50 ms to 5 s for a healthy pipeline (a commit window, a
    /// hub round trip, a FHIR bundle), then 10 s to 24 h for what outages make (a device that buffered, an uplink down for
    /// hours, a FHIR server down overnight). Roughly 2-3x apart, so histogram_quantile is within a factor of about 2 anywhere.
    /// </summary>
    public static readonly IReadOnlyList<double> LatencyBucketsSeconds =
        [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

    /// <summary>A stage-latency histogram (seconds, <see cref="LatencyBucketsSeconds"/>); its name should end in <c>_seconds</c>.</summary>
    public static System.Diagnostics.Metrics.Histogram<double> CreateLatencyHistogram(this System.Diagnostics.Metrics.Meter meter, string name, string description)
    {
        ArgumentNullException.ThrowIfNull(meter);
        return meter.CreateHistogram(name, unit: "s", description: description, tags: null,
            advice: new System.Diagnostics.Metrics.InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBucketsSeconds });
    }

    /// <summary>Records <paramref name="to"/> − <paramref name="from"/> in seconds; a negative span (a device clock ahead of ours) counts as 0.</summary>
    public static void RecordSpan(this System.Diagnostics.Metrics.Histogram<double> histogram, DateTime from, DateTime to)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        histogram.Record(Math.Max(0, (to - from).TotalSeconds));
    }

    /// <summary>
    /// Registers a module's metrics class (a singleton made by <see cref="ActivatorUtilities"/>) so that the exporter is
    /// listening before the class's constructor runs: a measurement recorded before the MeterProvider exists is lost, and
    /// the constructors record the 0 that starts every known label value (a series an alert's <c>increase()</c> can see
    /// from the start). Hosted services are all constructed before the first one starts, so the OpenTelemetry hosted
    /// service starts the provider too late for them.
    /// </summary>
    public static IServiceCollection AddModuleMetrics<T>(this IServiceCollection services)
        where T : class
    {
        services.AddSingleton(sp =>
        {
            _ = sp.GetService<MeterProvider>();
            return ActivatorUtilities.CreateInstance<T>(sp);
        });
        return services;
    }

    /// <summary>
    /// The <c>/metrics</c> and <c>/health</c> endpoint (section <c>Monitoring</c>), the <see cref="ModuleHealth"/>
    /// components report to, and the health checks <c>/health</c> runs (components add theirs with
    /// <see cref="ComponentHealthCheckExtensions.AddComponentHealthCheck"/>).
    /// </summary>
    public static IServiceCollection AddMonitoring(this IServiceCollection services)
    {
        // Gateway and writer share one endpoint when they run in one process (medtech run).
        if (services.Any(s => s.ServiceType == typeof(ModuleHealth)))
        {
            return services;
        }

        services.AddValidatedOptions<MonitoringOptions>(MonitoringOptions.SectionName, o => o.Validate());
        services.AddSingleton<ModuleHealth>();
        // The time-out bounds a check that hangs (a check that waits must await, as the buffer's does: the library only cancels its token).
        services.AddSingleton<IHealthCheckPublisher, HealthGaugePublisher>();
        services.Configure<HealthCheckPublisherOptions>(o => (o.Delay, o.Period) = (TimeSpan.FromSeconds(1), HealthGaugePublisher.Period));
        services.AddHealthChecks().AddCheck<ModuleHealthCheck>(ModuleHealthCheck.Name, tags: [ModuleHealthCheck.Name, HealthTags.Live, HealthTags.Ready], timeout: TimeSpan.FromSeconds(5));
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(MeterPrefix + "*")
            // The runtime's own (GC heap, allocations, working set): what tells a memory attack or a leak from load.
            .AddMeter("System.Runtime")
            // Series keep the names operators know (medtech_edge_gateway_…): the exporter names a series after its
            // instrument only, so the meter's name goes in front.
            .AddView(instrument => instrument.Meter.Name.StartsWith(MeterPrefix, StringComparison.Ordinal)
                ? new MetricStreamConfiguration { Name = $"{instrument.Meter.Name}.{instrument.Name}".ToLowerInvariant() }
                : null)
            // No cached response: a scrape right after a change must show it (tests, and an operator checking a fix);
            // the endpoints' connection caps (ConnectionPlaces), not a cache, protect the endpoint.
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        services.AddHostedService<MonitoringServer>();
        services.AddPipelineTracing(Environment.GetEnvironmentVariable(OtlpEndpointVariable));
        return services;
    }

    /// <summary>The standard variable that names the OpenTelemetry collector; the modules export spans only when it is set.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>
    /// Spans of <see cref="PipelineTracing"/>'s sources exported over OTLP to <paramref name="otlpEndpoint"/>, with the
    /// standard sampler (<c>OTEL_TRACES_SAMPLER</c>; parent-based always-on by default). Nothing when it is null or
    /// blank: no tracer provider then, so no source has a listener and no span is even created (the cost is nil). The
    /// exporter reads the endpoint, protocol and headers from the standard <c>OTEL_EXPORTER_OTLP_*</c> variables itself.
    /// </summary>
    public static IServiceCollection AddPipelineTracing(this IServiceCollection services, string? otlpEndpoint)
    {
        if (string.IsNullOrWhiteSpace(otlpEndpoint) || services.Any(s => s.ServiceType == typeof(PipelineTracingMarker)))
        {
            return services;
        }

        services.AddSingleton<PipelineTracingMarker>();
        services.AddOpenTelemetry().WithTracing(tracing => tracing
            // Without a name the SDK says "unknown_service:dotnet" for every module (they all run as `dotnet X.dll`), so a
            // collector could not tell the gateway's spans from the writer's. OTEL_SERVICE_NAME, when set, still wins.
            .ConfigureResource(resource =>
            {
                if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(ServiceNameVariable)))
                {
                    resource.AddService(ServiceName);
                }
            })
            .AddSource(MeterPrefix + "*")
            .AddOtlpExporter());
        return services;
    }

    /// <summary>The standard variable that names the service in exported spans.</summary>
    public const string ServiceNameVariable = "OTEL_SERVICE_NAME";

    /// <summary>The module's name in exported spans: its entry assembly (MedTech.Edge.Modules.EdgeGateway, …FhirWriter, or the medtech command).</summary>
    public static string ServiceName => System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name ?? "MedTech.Edge";

    /// <summary>Says tracing is registered already (gateway and writer in one process register it once).</summary>
    private sealed class PipelineTracingMarker;
}
