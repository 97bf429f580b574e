using System.Net;
using Azure.Core;
using Azure.Identity;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests.Server;

/// <summary>Each FHIR authentication builds the Azure.Identity credential MedTech users would expect, and its token reaches the server.</summary>
public class FhirCredentialsTests
{
    private static readonly Uri Ahds = new("https://ws-fhir.fhir.azurehealthcareapis.com");

    [Theory]
    [InlineData(FhirAuthentication.ManagedIdentity, null, typeof(ManagedIdentityCredential))]
    [InlineData(FhirAuthentication.ManagedIdentity, "user-assigned-client-id", typeof(ManagedIdentityCredential))]
    [InlineData(FhirAuthentication.WorkloadIdentity, "app", typeof(WorkloadIdentityCredential))]
    [InlineData(FhirAuthentication.ClientCertificate, "app", typeof(ClientCertificateCredential))]
    [InlineData(FhirAuthentication.ClientSecret, "app", typeof(ClientSecretCredential))]
    [InlineData(FhirAuthentication.ClientCredentials, "app", typeof(ClientSecretCredential))]
    public void GivenAnAuthentication_WhenTheCredentialIsBuilt_ThenItIsTheAzureIdentityTypeItNames(FhirAuthentication authentication, string? clientId, Type expected)
    {
        var options = new FhirServerOptions
        {
            Url = Ahds, Authentication = authentication, TenantId = "tenant", ClientId = clientId, ClientSecret = "secret",
            ClientCertificatePath = "/app/secrets/client.pem", TokenFilePath = "/var/run/secrets/azure/tokens/azure-identity-token",
        };

        Assert.Empty(options.Validate());
        Assert.IsType(expected, FhirCredentials.Create(options));
        Assert.Equal("https://ws-fhir.fhir.azurehealthcareapis.com/.default", FhirCredentials.Scope(options));
    }

    [Theory]
    [InlineData(FhirAuthentication.None)]
    [InlineData(FhirAuthentication.BearerToken)]
    public void GivenNoEntraId_WhenTheCredentialIsBuilt_ThenThereIsNone(FhirAuthentication authentication) =>
        Assert.Null(FhirCredentials.Create(new FhirServerOptions { Url = Ahds, Authentication = authentication }));

    [Theory]
    [InlineData(FhirAuthentication.ClientCertificate, "FhirServer:ClientCertificatePath is required")]
    [InlineData(FhirAuthentication.ClientSecret, "FhirServer:ClientSecret is required")]
    [InlineData((FhirAuthentication)42, "FhirServer:Authentication must be")]
    public void GivenAnIncompleteIdentity_WhenValidated_ThenTheErrorNamesTheKeyAndNoSecret(FhirAuthentication authentication, string expected)
    {
        var options = new FhirServerOptions { Url = Ahds, Authentication = authentication, TenantId = "tenant", ClientId = "app", ClientCertificatePassword = "pfx-pass" };

        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
        Assert.DoesNotContain("pfx-pass", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void GivenAnAuthorityThatIsNotHttps_WhenValidated_ThenItIsRefused() =>
        Assert.Contains(new FhirServerOptions { Url = Ahds, Authentication = FhirAuthentication.ManagedIdentity, AuthorityHost = new Uri("http://login.example") }.Validate(),
            e => e.StartsWith("FhirServer:AuthorityHost", StringComparison.Ordinal));

    [Fact]
    public async System.Threading.Tasks.Task GivenAServerThatWantsAnEntraIdToken_WhenTheWriterCallsIt_ThenTheCredentialsTokenReachesItAsABearerHeader()
    {
        await using var server = await FhirTestServer.StartAsync();
        await server.RequireBearerAsync("token-from-entra-id");
        var options = new FhirServerOptions
        {
            Url = server.BaseUrl, Authentication = FhirAuthentication.ManagedIdentity, Scope = "https://ws-fhir.fhir.azurehealthcareapis.com/.default",
            MaxAttempts = 1,
        };
        var credential = new RecordingCredential("token-from-entra-id");
        var wrong = new RecordingCredential("someone-elses-token");

        using var http = FhirServerClient.CreateHttpClient(options, credential);
        var created = await new FhirServerClient(http, options, NullLogger<FhirServerClient>.Instance)
            .CreateAsync(new Patient { Identifier = [new Identifier("urn:test", "p-1")] }, "identifier=urn:test|p-1", default);
        using var refusedHttp = FhirServerClient.CreateHttpClient(options, wrong);
        var refused = await Assert.ThrowsAsync<FhirRequestException>(() => new FhirServerClient(refusedHttp, options, NullLogger<FhirServerClient>.Instance)
            .CreateAsync(new Patient(), "identifier=urn:test|p-2", default));

        Assert.NotNull(created.Id);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        Assert.Equal(["https://ws-fhir.fhir.azurehealthcareapis.com/.default"], credential.Scopes.Distinct());
    }

    /// <summary>A credential we control: hands out a fixed token and records the scopes asked for.</summary>
    private sealed class RecordingCredential(string token) : TokenCredential
    {
        public List<string> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            lock (Scopes)
            {
                Scopes.AddRange(requestContext.Scopes);
            }

            return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
