using System.Net.Http.Headers;
using Azure.Core;
using Azure.Identity;

namespace MedTech.Edge.Fhir.Server;

/// <summary>Adds the Authorization header the options ask for; Azure.Identity caches and refreshes Entra ID tokens.</summary>
public sealed class FhirAuthenticationHandler : DelegatingHandler
{
    private readonly string? staticToken;
    private readonly TokenCredential? credential;
    private readonly TokenRequestContext context;

    public FhirAuthenticationHandler(FhirServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        switch (options.Authentication)
        {
            case FhirAuthentication.BearerToken:
                staticToken = options.BearerToken;
                break;
            case FhirAuthentication.ClientCredentials:
                credential = new ClientSecretCredential(options.TenantId, options.ClientId, options.ClientSecret,
                    new ClientSecretCredentialOptions { AuthorityHost = options.AuthorityHost ?? AzureAuthorityHosts.AzurePublicCloud });
                context = new TokenRequestContext([options.Scope ?? new Uri(options.Url!, "/").ToString().TrimEnd('/') + "/.default"]);
                break;
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var token = credential is null ? staticToken : (await credential.GetTokenAsync(context, cancellationToken).ConfigureAwait(false)).Token;
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
