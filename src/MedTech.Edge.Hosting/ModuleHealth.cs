using System.Collections.Concurrent;

namespace MedTech.Edge.Hosting;

/// <summary>
/// What the module's components say about themselves, for <c>/health</c>. <see cref="HealthStatus.Degraded"/> is
/// working as designed under trouble (the hub is down and the buffer holds everything); <see cref="HealthStatus.Unhealthy"/>
/// needs an operator. Reasons name components and error types, never device or patient data.
/// </summary>
public sealed class ModuleHealth
{
    private readonly ConcurrentDictionary<string, (HealthStatus Status, string Reason)> components = new();

    public void Healthy(string component) => components[component] = (HealthStatus.Healthy, "ok");

    public void Degraded(string component, string reason) => components[component] = (HealthStatus.Degraded, reason);

    public void Unhealthy(string component, string reason) => components[component] = (HealthStatus.Unhealthy, reason);

    public IReadOnlyDictionary<string, (HealthStatus Status, string Reason)> Snapshot() =>
        components.ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
}

public enum HealthStatus
{
    Healthy,
    Degraded,
    Unhealthy,
}
