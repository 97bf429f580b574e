using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Hosting;

/// <summary>
/// The <c>/health</c> body: <c>{"status": "Healthy|Degraded|Unhealthy", "components": {"name": {"status", "reason"}}}</c>,
/// 200 when healthy or degraded (working as designed under trouble), 503 when unhealthy (needs an operator). The shape
/// predates the health-check library; image health probes and operators' scripts read it.
/// </summary>
public static class HealthResponse
{
    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        var components = new SortedDictionary<string, ComponentHealth>(StringComparer.Ordinal);
        foreach (var (name, entry) in report.Entries)
        {
            if (entry.Tags.Contains(ModuleHealthCheck.Name))
            {
                foreach (var (component, value) in entry.Data)
                {
                    if (value is ComponentHealth health)
                    {
                        components[component] = health;
                    }
                }

                // A module check that failed itself (it threw, or timed out) still shows, by its exception type.
                if (entry.Exception is not null || entry.Data.Count == 0 && entry.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
                {
                    components[name] = Describe(entry);
                }
            }
            else
            {
                components[name] = Describe(entry);
            }
        }

        var status = ModuleHealthCheck.FromLibrary(report.Status);
        if (components.Count > 0)
        {
            status = (HealthStatus)Math.Max((int)status, (int)components.Values.Max(c => c.Status));
        }

        context.Response.StatusCode = status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await JsonSerializer.SerializeAsync(context.Response.Body, new
        {
            status = status.ToString(),
            components = components.ToDictionary(c => c.Key, c => new { status = c.Value.Status.ToString(), reason = c.Value.Reason }),
        }, cancellationToken: context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// A check's status and reason: its description, or for a check that threw only the exception's type (its message may
    /// carry data the check saw); a time-out shows as the cancellation type.
    /// </summary>
    private static ComponentHealth Describe(HealthReportEntry entry) => new(
        ModuleHealthCheck.FromLibrary(entry.Status),
        entry.Exception is { } ex ? $"check failed: {ex.GetType().Name}" : entry.Description ?? (entry.Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy ? "ok" : "unhealthy"));
}
