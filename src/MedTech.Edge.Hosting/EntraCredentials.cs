using System.Security.Cryptography.X509Certificates;
using Azure.Core;
using Azure.Identity;

namespace MedTech.Edge.Hosting;

/// <summary>The Entra ID identities a module can use for an Azure service (the FHIR server, Event Hubs).</summary>
public enum EntraCredentialKind
{
    /// <summary>The host's managed identity: system-assigned, or user-assigned when a client id is given.</summary>
    ManagedIdentity,

    /// <summary>Kubernetes workload identity: a federated token file (<c>AZURE_FEDERATED_TOKEN_FILE</c> by default).</summary>
    WorkloadIdentity,

    /// <summary>An app registration's certificate (PEM or PFX file).</summary>
    ClientCertificate,

    /// <summary>An app registration's client secret.</summary>
    ClientSecret,
}

/// <summary>What an Entra ID credential is built from; the modules' options sections (FhirServer, Hub:EntraId) fill it.</summary>
public sealed record EntraCredentialSettings(
    string? TenantId, string? ClientId, string? ClientSecret, string? ClientCertificatePath, string? ClientCertificatePassword, string? TokenFilePath, Uri? AuthorityHost);

/// <summary>
/// The one place modules build Azure.Identity credentials (the FHIR writer's and the hub clients'), so an identity kind
/// behaves alike for both services; Azure.Identity caches and refreshes the tokens.
/// </summary>
public static class EntraCredentials
{
    public static TokenCredential Create(EntraCredentialKind kind, EntraCredentialSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var authority = settings.AuthorityHost ?? AzureAuthorityHosts.AzurePublicCloud;
        return kind switch
        {
            EntraCredentialKind.ManagedIdentity => new ManagedIdentityCredential(string.IsNullOrWhiteSpace(settings.ClientId)
                ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(settings.ClientId)),
            // Unset values fall back to the variables AKS's workload identity webhook sets (AZURE_TENANT_ID, ...).
            EntraCredentialKind.WorkloadIdentity => new WorkloadIdentityCredential(new WorkloadIdentityCredentialOptions
            {
                TenantId = Blank(settings.TenantId), ClientId = Blank(settings.ClientId), TokenFilePath = Blank(settings.TokenFilePath), AuthorityHost = authority,
            }),
            EntraCredentialKind.ClientCertificate => ClientCertificate(settings, authority),
            EntraCredentialKind.ClientSecret => new ClientSecretCredential(settings.TenantId, settings.ClientId, settings.ClientSecret,
                new ClientSecretCredentialOptions { AuthorityHost = authority }),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not an Entra ID credential kind."),
        };
    }

    /// <summary>A PFX with a password is opened here, since Azure.Identity's path overload takes no password.</summary>
    private static ClientCertificateCredential ClientCertificate(EntraCredentialSettings settings, Uri authority)
    {
        var options = new ClientCertificateCredentialOptions { AuthorityHost = authority };
        return string.IsNullOrEmpty(settings.ClientCertificatePassword)
            ? new ClientCertificateCredential(settings.TenantId, settings.ClientId, settings.ClientCertificatePath, options)
            : new ClientCertificateCredential(settings.TenantId, settings.ClientId,
                X509CertificateLoader.LoadPkcs12FromFile(settings.ClientCertificatePath!, settings.ClientCertificatePassword), options);
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
