namespace MedTech.Edge.Fhir.Server;

/// <summary>How the writer authenticates to the FHIR server.</summary>
public enum FhirAuthentication
{
    /// <summary>No Authorization header: only for a server on this machine (tests, the local demo).</summary>
    None,

    /// <summary>A static bearer token from configuration (e.g. a reverse proxy's API token).</summary>
    BearerToken,

    /// <summary>OAuth2 client credentials against Microsoft Entra ID, as Azure Health Data Services expects.</summary>
    ClientCredentials,
}
