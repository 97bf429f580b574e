using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Hosting;

/// <summary>
/// The tags of the module's health checks. <c>/health</c> and <c>/health/ready</c> run every check; <c>/health/live</c>
/// runs only those tagged <see cref="Live"/>: the module check (a worker that stopped), which a restart can cure. No
/// component check is tagged live: a restart cures none of them (a FHIR server or hub that is down, a full disk, an
/// unreachable broker), so a liveness probe that failed on them would only restart the module again and again. A crash
/// loop on a dependency's outage is therefore impossible by construction, whatever the component reports.
/// </summary>
public static class HealthTags
{
    /// <summary>Checks whose failure a restart cures (the liveness probe's).</summary>
    public const string Live = "live";

    /// <summary>Every check: is the module doing its job (the readiness probe's, and <c>/health</c>'s).</summary>
    public const string Ready = "ready";

    /// <summary>Components: one named check each (<c>buffer</c>, <c>hub</c>, <c>fhir</c>, <c>mapping</c>, <c>ingest</c>).</summary>
    public const string Component = "component";
}

/// <summary>A component's own report in <see cref="ModuleHealth"/> as its health check; healthy until it first reports.</summary>
public sealed class ComponentHealthCheck(ModuleHealth health, string component) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Report(health, component, "no report yet"));

    /// <summary>The component's last report, or healthy with <paramref name="none"/> when it has not reported.</summary>
    public static HealthCheckResult Report(ModuleHealth health, string component, string none)
    {
        ArgumentNullException.ThrowIfNull(health);
        return health.Snapshot().TryGetValue(component, out var report)
            ? new HealthCheckResult(ModuleHealthCheck.ToLibrary(report.Status), report.Reason)
            : HealthCheckResult.Healthy(none);
    }
}

public static class ComponentHealthCheckExtensions
{
    /// <summary>
    /// Registers a component's check under its name, tagged <see cref="HealthTags.Ready"/> and
    /// <see cref="HealthTags.Component"/> (never <see cref="HealthTags.Live"/>); the component's <see cref="ModuleHealth"/>
    /// reports then leave the module check for this one. By default the check is the component's own report
    /// (<see cref="ComponentHealthCheck"/>). A name registered already (gateway and writer in one process both have a
    /// hub) keeps its first check.
    /// </summary>
    public static IServiceCollection AddComponentHealthCheck(this IServiceCollection services, string component, Func<IServiceProvider, IHealthCheck>? check = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(component);
        services.AddMonitoring();
        if (services.Any(s => s.ServiceType == typeof(ComponentName) && s.ImplementationInstance is ComponentName named && named.Name == component))
        {
            return services;
        }

        services.AddSingleton(new ComponentName(component));
        services.AddHealthChecks().Add(new HealthCheckRegistration(component,
            check ?? (sp => new ComponentHealthCheck(sp.GetRequiredService<ModuleHealth>(), component)),
            failureStatus: null, tags: [HealthTags.Ready, HealthTags.Component], timeout: TimeSpan.FromSeconds(5)));
        return services;
    }
}

/// <summary>A component that has its own health check (the module check leaves its reports out).</summary>
public sealed record ComponentName(string Name);
