using Azure.Core;
using MedTech.Edge.Hosting;

namespace MedTech.Edge.Hub;

/// <summary>
/// The Entra ID credential a hub client uses (section <c>Hub:EntraId</c>), by <see cref="HubAuthentication"/>, through
/// Azure.Identity, which caches and refreshes its tokens. <see cref="ClientSecret"/> and
/// <see cref="ClientCertificatePassword"/> are secrets: they come from secret files and are never printed.
/// </summary>
public sealed class EntraIdOptions
{
    /// <summary>The app registration's tenant; workload identity defaults to <c>AZURE_TENANT_ID</c>.</summary>
    public string? TenantId { get; set; }

    /// <summary>The app registration, or the user-assigned managed identity (empty: the system-assigned one).</summary>
    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>A PEM (certificate and key) or PFX file.</summary>
    public string? ClientCertificatePath { get; set; }

    /// <summary>The PFX file's password, if it has one.</summary>
    public string? ClientCertificatePassword { get; set; }

    /// <summary>Workload identity's federated token file; default <c>AZURE_FEDERATED_TOKEN_FILE</c>.</summary>
    public string? TokenFilePath { get; set; }

    /// <summary>Entra ID authority; default the public cloud.</summary>
    public Uri? AuthorityHost { get; set; }

    /// <summary>Every problem for <paramref name="authentication"/>, each naming its key under <paramref name="section"/>.</summary>
    public IReadOnlyList<string> Validate(string section, HubAuthentication authentication)
    {
        string[] required = authentication switch
        {
            HubAuthentication.ClientSecret => [nameof(TenantId), nameof(ClientId), nameof(ClientSecret)],
            HubAuthentication.ClientCertificate => [nameof(TenantId), nameof(ClientId), nameof(ClientCertificatePath)],
            _ => [],
        };
        var values = new Dictionary<string, string?>
        {
            [nameof(TenantId)] = TenantId, [nameof(ClientId)] = ClientId, [nameof(ClientSecret)] = ClientSecret, [nameof(ClientCertificatePath)] = ClientCertificatePath,
        };
        var errors = required.Where(name => string.IsNullOrWhiteSpace(values[name]))
            .Select(name => $"{section}:{name} is required when the authentication is {authentication}.").ToList();
        if (AuthorityHost is { IsAbsoluteUri: false } or { Scheme: not "https" })
        {
            errors.Add($"{section}:AuthorityHost must be an https URL, e.g. https://login.microsoftonline.us/.");
        }

        return errors;
    }

    /// <summary>The credential <paramref name="authentication"/> names (<see cref="EntraCredentials"/>); null for a connection string.</summary>
    public TokenCredential? Create(HubAuthentication authentication)
    {
        EntraCredentialKind? kind = authentication switch
        {
            HubAuthentication.ConnectionString => null,
            HubAuthentication.ManagedIdentity => EntraCredentialKind.ManagedIdentity,
            HubAuthentication.WorkloadIdentity => EntraCredentialKind.WorkloadIdentity,
            HubAuthentication.ClientCertificate => EntraCredentialKind.ClientCertificate,
            HubAuthentication.ClientSecret => EntraCredentialKind.ClientSecret,
            _ => throw new ArgumentOutOfRangeException(nameof(authentication), authentication, "Not an authentication."),
        };
        return kind is { } entra
            ? EntraCredentials.Create(entra, new EntraCredentialSettings(TenantId, ClientId, ClientSecret, ClientCertificatePath, ClientCertificatePassword, TokenFilePath, AuthorityHost))
            : null;
    }

    public override string ToString() =>
        $"TenantId={TenantId}, ClientId={ClientId}, ClientCertificatePath={ClientCertificatePath}, ClientSecret={(string.IsNullOrEmpty(ClientSecret) ? "(none)" : "(set)")}";
}
