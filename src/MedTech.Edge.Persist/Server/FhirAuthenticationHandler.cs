using System.Net.Http.Headers;
using Azure.Core;

namespace MedTech.Edge.Persist.Server;

/// <summary>Adds the Authorization header the options ask for; Azure.Identity caches and refreshes Entra ID tokens.</summary>
public sealed class FhirAuthenticationHandler : DelegatingHandler
{
    private readonly string? staticToken;
    private readonly TokenCredential? credential;
    private readonly TokenRequestContext context;

    /// <param name="credential">The credential to use instead of the one the options name (tests, or a host that builds its own).</param>
    public FhirAuthenticationHandler(FhirServerOptions options, TokenCredential? credential = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Authentication == FhirAuthentication.BearerToken)
        {
            staticToken = options.BearerToken;
        }
        else if ((credential ?? FhirCredentials.Create(options)) is { } tokens)
        {
            this.credential = tokens;
            context = new TokenRequestContext([FhirCredentials.Scope(options)]);
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
