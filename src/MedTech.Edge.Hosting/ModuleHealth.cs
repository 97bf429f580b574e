using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace MedTech.Edge.Hosting;

/// <summary>
/// What the module's components say about themselves, for <c>/health</c>. <see cref="HealthStatus.Degraded"/> is
/// working as designed under trouble (the hub is down and the buffer holds everything); <see cref="HealthStatus.Unhealthy"/>
/// needs an operator. Reasons name components and error types, never device or patient data.
/// </summary>
/// <remarks>
/// Also published as the gauge <c>health.status</c> (meter <c>MedTech.Edge.Health</c>), one series per component: 0
/// healthy, 1 degraded, 2 unhealthy, so an alert rule needs no probe of its own. Component names are the code's own.
/// A component's series is its last checked status (<see cref="HealthGaugePublisher"/>: what <c>/health</c> said,
/// computed checks included), or its last report before the first check.
/// </remarks>
public sealed class ModuleHealth : IDisposable
{
    /// <summary>The meter of <c>health.status</c>.</summary>
    public const string MeterName = MonitoringExtensions.MeterPrefix + "Health";

    private readonly ConcurrentDictionary<string, (HealthStatus Status, string Reason)> components = new();
    private readonly ConcurrentDictionary<string, HealthStatus> checkedStatus = new();
    private readonly Meter meter;

    public ModuleHealth()
    {
        // The scope tells this module's gauge from another's in one process (tests host many modules).
        meter = new Meter(new MeterOptions(MeterName) { Scope = this });
        meter.CreateObservableGauge("status", () => checkedStatus.Concat(components.Where(c => !checkedStatus.ContainsKey(c.Key)).Select(c => KeyValuePair.Create(c.Key, c.Value.Status)))
                .Select(c => new Measurement<int>((int)c.Value, new KeyValuePair<string, object?>("component", c.Key))),
            description: "Each component's health: 0 healthy, 1 degraded (working as designed under trouble), 2 unhealthy (needs an operator).");
    }

    public void Dispose() => meter.Dispose();

    public void Healthy(string component) => components[component] = (HealthStatus.Healthy, "ok");

    public void Degraded(string component, string reason) => components[component] = (HealthStatus.Degraded, reason);

    public void Unhealthy(string component, string reason) => components[component] = (HealthStatus.Unhealthy, reason);

    /// <summary>What the component's health check last said (<see cref="HealthGaugePublisher"/>).</summary>
    public void Checked(string component, HealthStatus status) => checkedStatus[component] = status;

    public IReadOnlyDictionary<string, (HealthStatus Status, string Reason)> Snapshot() =>
        components.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
}

public enum HealthStatus
{
    Healthy,
    Degraded,
    Unhealthy,
}
