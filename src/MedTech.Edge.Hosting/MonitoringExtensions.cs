using Microsoft.Extensions.DependencyInjection;

namespace MedTech.Edge.Hosting;

public static class MonitoringExtensions
{
    /// <summary>The <c>/metrics</c> and <c>/health</c> endpoint (section <c>Monitoring</c>) and the <see cref="ModuleHealth"/> components report to.</summary>
    public static IServiceCollection AddMonitoring(this IServiceCollection services)
    {
        // Gateway and writer share one endpoint when they run in one process (medtech run).
        if (services.Any(s => s.ServiceType == typeof(ModuleHealth)))
        {
            return services;
        }

        services.AddValidatedOptions<MonitoringOptions>(MonitoringOptions.SectionName, o => o.Validate());
        services.AddSingleton<ModuleHealth>();
        services.AddHostedService<MonitoringServer>();
        return services;
    }
}
