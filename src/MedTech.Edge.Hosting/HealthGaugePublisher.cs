using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Hosting;

/// <summary>
/// Copies each health report into <see cref="ModuleHealth"/>'s gauge <c>health.status</c>, so the alert that reads the
/// gauge sees what the checks compute (a full buffer, a rejected mapping file, stopped workers), not only what
/// components report. The library runs every check and then this every <see cref="Period"/>, from the start.
/// </summary>
internal sealed class HealthGaugePublisher(ModuleHealth health) : IHealthCheckPublisher
{
    /// <summary>How stale the gauge may be behind <c>/health</c>: well inside a scrape interval and an alert's <c>for</c>.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(10);

    public Task PublishAsync(HealthReport report, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(report);
        foreach (var (component, entry) in report.Entries)
        {
            health.Checked(component, entry.Status switch
            {
                Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy => HealthStatus.Healthy,
                Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded => HealthStatus.Degraded,
                _ => HealthStatus.Unhealthy,
            });
        }

        return Task.CompletedTask;
    }
}
