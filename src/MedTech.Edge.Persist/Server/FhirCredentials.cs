using Azure.Core;
using MedTech.Edge.Hosting;

namespace MedTech.Edge.Persist.Server;

/// <summary>The Azure.Identity credential <see cref="FhirServerOptions.Authentication"/> names; Azure.Identity caches and refreshes its tokens.</summary>
public static class FhirCredentials
{
    /// <summary>The credential, or null for <see cref="FhirAuthentication.None"/> and <see cref="FhirAuthentication.BearerToken"/>.</summary>
    public static TokenCredential? Create(FhirServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        EntraCredentialKind? kind = options.Authentication switch
        {
            FhirAuthentication.ClientCredentials or FhirAuthentication.ClientSecret => EntraCredentialKind.ClientSecret,
            FhirAuthentication.ManagedIdentity => EntraCredentialKind.ManagedIdentity,
            FhirAuthentication.WorkloadIdentity => EntraCredentialKind.WorkloadIdentity,
            FhirAuthentication.ClientCertificate => EntraCredentialKind.ClientCertificate,
            _ => null,
        };
        return kind is { } entra
            ? EntraCredentials.Create(entra, new EntraCredentialSettings(options.TenantId, options.ClientId, options.ClientSecret, options.ClientCertificatePath,
                options.ClientCertificatePassword, options.TokenFilePath, options.AuthorityHost))
            : null;
    }

    /// <summary>The token scope: the configured one, else <c>{Url origin}/.default</c> (Azure Health Data Services' audience).</summary>
    public static string Scope(FhirServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Scope ?? new Uri(options.Url!, "/").ToString().TrimEnd('/') + "/.default";
    }
}
