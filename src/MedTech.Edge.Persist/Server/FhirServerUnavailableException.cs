namespace MedTech.Edge.Persist.Server;

/// <summary>
/// The FHIR server kept failing (network, timeout, 408/429/5xx) through every retry. Nothing of the batch may be
/// acknowledged; the caller retries the whole batch later.
/// </summary>
public sealed class FhirServerUnavailableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>No Entra ID token could be had (<see cref="Exception.InnerException"/> is Azure.Identity's failure): the server was never asked.</summary>
    public bool TokenUnavailable => InnerException is { } inner && FhirServerClient.IsTokenFailure(inner);
}
