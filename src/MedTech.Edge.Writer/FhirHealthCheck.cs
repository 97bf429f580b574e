using MedTech.Edge.Hosting;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Writer;

/// <summary>
/// The FHIR server as the writer sees it: the last batch's outcome (<see cref="MeasurementWriter"/>'s reports: degraded
/// while the server is unavailable, unhealthy while it refuses the writer or no token could be had) and, with Entra ID,
/// whether a token can be had now (<see cref="FhirTokenProbe"/>), so an idle writer whose secret expired is not shown
/// healthy until the next reading arrives. The worse of the two; the token's reason when both are unhealthy (the cause).
/// </summary>
public sealed class FhirHealthCheck(ModuleHealth health, FhirTokenProbe? tokens) : IHealthCheck
{
    public const string Name = "fhir";

    /// <summary>The reason shown for a token failure: the exception's type only (Entra ID's message quotes tenant, client and request ids).</summary>
    public static string TokenReason(string exceptionType) =>
        $"no Entra ID token for the FHIR server ({exceptionType}); nothing is written until one is had";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var batch = ComponentHealthCheck.Report(health, Name, "no batch yet");
        if (tokens is null || await tokens.FailureAsync(cancellationToken).ConfigureAwait(false) is not { } failure)
        {
            return batch;
        }

        // HealthStatus orders Unhealthy lowest.
        var token = HealthCheckResult.Unhealthy(TokenReason(failure));
        return batch.Status < token.Status ? batch : token;
    }
}
