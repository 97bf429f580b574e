using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace MedTech.Edge.Hosting;

public static class MonitoringExtensions
{
    /// <summary>The modules' meters (MedTech.Edge.Gateway, MedTech.Edge.Writer): every one is exported on <c>/metrics</c>.</summary>
    public const string MeterPrefix = "MedTech.Edge.";

    /// <summary>
    /// The <c>/metrics</c> and <c>/health</c> endpoint (section <c>Monitoring</c>), the <see cref="ModuleHealth"/>
    /// components report to, and the health checks <c>/health</c> runs (add more with <c>AddHealthChecks()</c>).
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
        // The time-out bounds a check that hangs (a buffer lock held by a stuck write): /health answers in time anyway.
        services.AddHealthChecks().AddCheck<ModuleHealthCheck>(ModuleHealthCheck.Name, tags: [ModuleHealthCheck.Name], timeout: TimeSpan.FromSeconds(5));
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
        return services;
    }
}
