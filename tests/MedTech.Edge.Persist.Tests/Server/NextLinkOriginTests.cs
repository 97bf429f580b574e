using System.Net;
using System.Text;
using Azure.Core;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests.Server;

/// <summary>
/// Azure identities: where the writer's Entra ID bearer token goes. The handler puts it on
/// every request the client sends, and the client follows a search's <c>next</c> link wherever it points.
/// </summary>
public sealed class NextLinkOriginTests
{
    // A search page whose next link names another origin (a proxy's internal http:// address, or a hostile server)
    // would get the managed identity's FHIR token sent there in clear; the token must go only to the configured server's origin.
    [Theory]
    [InlineData("https://attacker.example/fhir/Device?page=2")]
    [InlineData("http://fhir.hospital.example/fhir/Device?page=2")]
    public async Task GivenANextLinkOnAnotherOrigin_WhenSearching_ThenTheEntraTokenGoesOnlyToTheServersOrigin(string next)
    {
        var inner = new Pages(next);
        var options = new FhirServerOptions { Url = new Uri("https://fhir.hospital.example/fhir/"), Authentication = FhirAuthentication.ManagedIdentity };
        using var http = new HttpClient(new FhirAuthenticationHandler(options, new FixedToken()) { InnerHandler = inner }) { BaseAddress = options.Url };
        var client = new FhirServerClient(http, options, NullLogger<FhirServerClient>.Instance);

        try
        {
            await client.SearchAsync<Hl7.Fhir.Model.Device>("Device?identifier=monitor-1", default);
        }
        catch (Exception ex) when (ex is FhirServerUnavailableException or FhirRequestException or InvalidOperationException)
        {
            // Refusing to follow the link is a fix too; what matters is where the token went.
        }

        Assert.NotEmpty(inner.Seen);
        Assert.All(inner.Seen.Where(s => s.Authorization is not null), s => Assert.Equal("https://fhir.hospital.example", s.Origin));
    }

    private sealed class FixedToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => new("entra-token-secret", DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    /// <summary>The first page links to <paramref name="next"/>; every other page is the last.</summary>
    private sealed class Pages(string next) : HttpMessageHandler
    {
        public List<(string Origin, string? Authorization)> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var first = Seen.Count == 0;
            Seen.Add((request.RequestUri!.GetLeftPart(UriPartial.Authority), request.Headers.Authorization?.Parameter));
            var link = first ? $$""","link":[{"relation":"next","url":"{{next}}"}]""" : "";
            var body = $$"""{"resourceType":"Bundle","type":"searchset","entry":[]{{link}}}""";
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/fhir+json") });
        }
    }
}
