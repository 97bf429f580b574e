namespace MedTech.Edge.Persist.Server;

/// <summary>
/// The FHIR server kept failing (network, timeout, 408/429/5xx) through every retry. Nothing of the batch may be
/// acknowledged; the caller retries the whole batch later.
/// </summary>
public sealed class FhirServerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
