using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting;

/// <summary>
/// Any worker that ended while the host runs, and the reports of components without a check of their own
/// (<see cref="ComponentHealthCheckExtensions.AddComponentHealthCheck"/>), as one health check: they travel in the
/// result's data, one <see cref="ComponentHealth"/> each, and <c>/health</c> lists them by name. The liveness check
/// (<see cref="HealthTags.Live"/>): a stopped worker is what a restart cures.
/// </summary>
public sealed class ModuleHealthCheck(ModuleHealth health, IServiceProvider services) : IHealthCheck
{
    /// <summary>The registration's name and tag; its data, not its name, becomes the components of <c>/health</c>.</summary>
    public const string Name = "module";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var own = services.GetServices<ComponentName>().Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var components = health.Snapshot().Where(c => !own.Contains(c.Key))
            .ToDictionary(c => c.Key, c => new ComponentHealth(c.Value.Status, c.Value.Reason), StringComparer.Ordinal);
        foreach (var worker in services.GetServices<IHostedService>().OfType<BackgroundService>())
        {
            if (worker.ExecuteTask is { IsCompleted: true } task)
            {
                components[worker.GetType().Name] = new ComponentHealth(
                    HealthStatus.Unhealthy, task.IsFaulted ? $"stopped: {task.Exception!.InnerException!.GetType().Name}" : "stopped");
            }
        }

        var status = components.Count == 0 ? HealthStatus.Healthy : components.Values.Max(c => c.Status);
        var data = components.ToDictionary(c => c.Key, c => (object)c.Value, StringComparer.Ordinal);
        return Task.FromResult(new HealthCheckResult(ToLibrary(status), data: data));
    }

    internal static Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus ToLibrary(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy,
        HealthStatus.Degraded => Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded,
        _ => Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy,
    };

    internal static HealthStatus FromLibrary(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus status) => status switch
    {
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy => HealthStatus.Healthy,
        Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded => HealthStatus.Degraded,
        _ => HealthStatus.Unhealthy,
    };
}

/// <summary>One component's status and reason (component and error type names, never device or patient data).</summary>
public sealed record ComponentHealth(HealthStatus Status, string Reason);
