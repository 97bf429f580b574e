using System.Net;

namespace MedTech.Edge.Persist.Server;

/// <summary>
/// The FHIR server refused a request with a status that retrying will not change (401, 403, 404 of the base, 400 ...).
/// <see cref="Outcome"/> is the server's OperationOutcome text, which may echo resource content: never log it.
/// </summary>
public sealed class FhirRequestException(HttpStatusCode status, string request, string? outcome)
    : Exception($"The FHIR server answered {(int)status} {status} to {request}.")
{
    public HttpStatusCode Status { get; } = status;

    public string? Outcome { get; } = outcome;

    /// <summary>
    /// The server refused what the request carried, not who sent it: 400, 413, 414, 422, 431. Retrying the same content
    /// gets the same answer, so the writer isolates the group that causes it instead of retrying for ever, which is
    /// what 401, 403 and 404 (configuration) get.
    /// </summary>
    public bool IsContentRefused => (int)Status is 400 or 413 or 414 or 422 or 431;
}
