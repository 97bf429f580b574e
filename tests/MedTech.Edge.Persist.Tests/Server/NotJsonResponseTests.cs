using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests.Server;

/// <summary>
/// A 200 whose body is not JSON (a proxy's login page, a gateway's error page) is an outage, not bad data: the writer
/// keeps the batch and retries it, instead of halving it down to single groups and dead-lettering every one.
/// </summary>
public class NotJsonResponseTests
{
    [Theory]
    [InlineData("<html><body>Please sign in</body></html>")]
    [InlineData("")]
    [InlineData("{\"resourceType\":\"Bundle\"")]
    public async System.Threading.Tasks.Task GivenASuccessWhoseBodyIsNotJson_WhenReadOrWritten_ThenTheServerCountsAsUnavailable(string body)
    {
        var options = new FhirServerOptions { Url = new Uri("http://127.0.0.1/fhir/"), MaxAttempts = 1 };
        var client = new FhirServerClient(new HttpClient(new Answer(body)) { BaseAddress = options.Url }, options, NullLogger<FhirServerClient>.Instance);

        await Assert.ThrowsAsync<FhirServerUnavailableException>(() => client.SearchAsync<Device>("Device?identifier=x", default));
        await Assert.ThrowsAsync<FhirServerUnavailableException>(() => client.GetBatchAsync(["Observation/1"], default));
        await Assert.ThrowsAsync<FhirServerUnavailableException>(() => client.WriteBatchAsync(new Bundle { Type = Bundle.BundleType.Batch }, default));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenJsonThatIsNotTheResourceAsked_WhenRead_ThenItIsNotMistakenForAnOutage()
    {
        var options = new FhirServerOptions { Url = new Uri("http://127.0.0.1/fhir/"), MaxAttempts = 1 };
        var client = new FhirServerClient(new HttpClient(new Answer("""{"resourceType":"Patient","id":"p"}""")) { BaseAddress = options.Url }, options, NullLogger<FhirServerClient>.Instance);

        var ex = await Record.ExceptionAsync(() => client.SearchAsync<Device>("Device?identifier=x", default));

        Assert.NotNull(ex);
        Assert.IsNotType<FhirServerUnavailableException>(ex);
    }

    private sealed class Answer(string body) : HttpMessageHandler
    {
        protected override System.Threading.Tasks.Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            System.Threading.Tasks.Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "text/html") });
    }
}
