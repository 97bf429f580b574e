using MedTech.Edge.Persist.Server;

namespace MedTech.Edge.Persist.Tests.Server;

public class FhirAuthenticationHandlerTests
{
    [Theory]
    [InlineData(FhirAuthentication.BearerToken, "Bearer token-123")]
    [InlineData(FhirAuthentication.None, null)]
    public async Task GivenAnAuthenticationMode_WhenARequestIsSent_ThenTheAuthorizationHeaderIsWhatItAsks(FhirAuthentication mode, string? expected)
    {
        var inner = new Capture();
        var options = new FhirServerOptions { Url = new Uri("http://127.0.0.1/fhir"), Authentication = mode, BearerToken = "token-123" };
        using var client = new HttpClient(new FhirAuthenticationHandler(options) { InnerHandler = inner });

        await client.GetAsync(new Uri("http://127.0.0.1/fhir/metadata"));

        Assert.Equal(expected, inner.Authorization);
    }

    private sealed class Capture : HttpMessageHandler
    {
        public string? Authorization { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Authorization = request.Headers.Authorization?.ToString();
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
