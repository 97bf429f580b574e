using System.Security.Cryptography.X509Certificates;
using Azure.Core;
using Azure.Identity;

namespace MedTech.Edge.Persist.Server;

/// <summary>The Azure.Identity credential <see cref="FhirServerOptions.Authentication"/> names; Azure.Identity caches and refreshes its tokens.</summary>
public static class FhirCredentials
{
    /// <summary>The credential, or null for <see cref="FhirAuthentication.None"/> and <see cref="FhirAuthentication.BearerToken"/>.</summary>
    public static TokenCredential? Create(FhirServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var authority = options.AuthorityHost ?? AzureAuthorityHosts.AzurePublicCloud;
        return options.Authentication switch
        {
            FhirAuthentication.ClientCredentials or FhirAuthentication.ClientSecret =>
                new ClientSecretCredential(options.TenantId, options.ClientId, options.ClientSecret, new ClientSecretCredentialOptions { AuthorityHost = authority }),
            FhirAuthentication.ManagedIdentity => new ManagedIdentityCredential(string.IsNullOrWhiteSpace(options.ClientId)
                ? ManagedIdentityId.SystemAssigned : ManagedIdentityId.FromUserAssignedClientId(options.ClientId)),
            // Unset values fall back to the variables AKS's workload identity webhook sets (AZURE_TENANT_ID, ...).
            FhirAuthentication.WorkloadIdentity => new WorkloadIdentityCredential(new WorkloadIdentityCredentialOptions
            {
                TenantId = Blank(options.TenantId), ClientId = Blank(options.ClientId), TokenFilePath = Blank(options.TokenFilePath), AuthorityHost = authority,
            }),
            // A PFX with a password is opened here: Azure.Identity's path overload takes no password.
            FhirAuthentication.ClientCertificate => string.IsNullOrEmpty(options.ClientCertificatePassword)
                ? new ClientCertificateCredential(options.TenantId, options.ClientId, options.ClientCertificatePath, new ClientCertificateCredentialOptions { AuthorityHost = authority })
                : new ClientCertificateCredential(options.TenantId, options.ClientId,
                    X509CertificateLoader.LoadPkcs12FromFile(options.ClientCertificatePath!, options.ClientCertificatePassword), new ClientCertificateCredentialOptions { AuthorityHost = authority }),
            _ => null,
        };
    }

    /// <summary>The token scope: the configured one, else <c>{Url origin}/.default</c> (Azure Health Data Services' audience).</summary>
    public static string Scope(FhirServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Scope ?? new Uri(options.Url!, "/").ToString().TrimEnd('/') + "/.default";
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
