using Microsoft.Extensions.DependencyInjection;

namespace MedTech.Edge.Hosting;

public static class MonitoringExtensions
{
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
        services.AddHostedService<MonitoringServer>();
        return services;
    }
}
