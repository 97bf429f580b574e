namespace MedTech.Edge.Persist.Server;

/// <summary>
/// How the writer authenticates to the FHIR server. The Entra ID ones are the identities MedTech's FHIR destination
/// offered (a managed identity with the FHIR Data Writer role), plus those of an app registration or a Kubernetes pod.
/// </summary>
public enum FhirAuthentication
{
    /// <summary>No Authorization header: only for a server on this machine (tests, the local demo).</summary>
    None,

    /// <summary>A static bearer token from configuration (e.g. a reverse proxy's API token).</summary>
    BearerToken,

    /// <summary>OAuth2 client credentials with a client secret against Microsoft Entra ID (the same as <see cref="ClientSecret"/>).</summary>
    ClientCredentials,

    /// <summary>The host's managed identity: system-assigned, or user-assigned when <c>FhirServer:ClientId</c> is set.</summary>
    ManagedIdentity,

    /// <summary>Kubernetes workload identity: a federated token file (<c>AZURE_FEDERATED_TOKEN_FILE</c> by default).</summary>
    WorkloadIdentity,

    /// <summary>An app registration's certificate (PEM or PFX file).</summary>
    ClientCertificate,

    /// <summary>An app registration's client secret (a secret file).</summary>
    ClientSecret,
}
