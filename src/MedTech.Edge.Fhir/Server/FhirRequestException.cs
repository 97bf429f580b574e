using System.Net;

namespace MedTech.Edge.Fhir.Server;

/// <summary>
/// The FHIR server refused a request with a status that retrying will not change (401, 403, 404 of the base, 400 ...).
/// <see cref="Outcome"/> is the server's OperationOutcome text, which may echo resource content: never log it.
/// </summary>
public sealed class FhirRequestException(HttpStatusCode status, string request, string? outcome)
    : Exception($"The FHIR server answered {(int)status} {status} to {request}.")
{
    public HttpStatusCode Status { get; } = status;

    public string? Outcome { get; } = outcome;
}
