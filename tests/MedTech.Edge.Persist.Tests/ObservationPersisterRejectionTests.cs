using System.Net;
using System.Text;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests;

/// <summary>
/// A server that refuses one Observation of a write bundle (Medplum validates nothing, so a scripted server plays
/// one that does): that Observation's group fails with the status and outcome, the other one is persisted.
/// </summary>
public class ObservationPersisterRejectionTests
{
    [Fact]
    public async Task GivenAServerThatRejectsOneEntry_WhenPersisted_ThenOnlyThatGroupFailsWithTheStatusAndOutcomeWithoutDiagnostics()
    {
        var server = new ScriptedServer();
        var options = new FhirServerOptions { Url = new Uri("http://127.0.0.1/fhir/") };
        var client = new FhirServerClient(new HttpClient(server) { BaseAddress = options.Url }, options, NullLogger<FhirServerClient>.Instance);
        using var identity = new IdentityResolver(client, new ResourceIdentityOptions());
        using var persister = new ObservationPersister(client, identity, FhirMapping.Parse(FhirServerFixture.Mapping), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);

        var result = await persister.PersistAsync(
            [Build.Measurement("heartrate", "2026-11-24T08:00:00Z", ("hr", "70")), Build.Measurement("weight", "2026-11-24T08:00:00Z", ("kg", "71"))], default);

        Assert.Equal(1, result.Created);
        var error = Assert.Single(result.Errors);
        Assert.Equal((FhirErrorCodes.FhirResourceRejected, "weight"), (error.Code, error.Group.Key.Type));
        Assert.Contains("HTTP 422", error.Message);
        Assert.Contains("error/invalid at Observation.value.ofType(Quantity).value", error.Message);
        Assert.DoesNotContain("mrn-4711", error.Message);
    }

    private sealed class ScriptedServer : HttpMessageHandler
    {
        /// <summary>Reads find nothing; the weight Observation is refused, anything else is created.</summary>
        private static string Answer(System.Text.Json.JsonElement entry) =>
            entry.GetProperty("request").GetProperty("method").GetString() == "GET" ? """{"response":{"status":"404"}}"""
            : entry.GetProperty("resource").GetRawText().Contains("29463-7", StringComparison.Ordinal)
                ? """{"response":{"status":"422","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"mrn-4711: Quantity.value must be a decimal","expression":["Observation.value.ofType(Quantity).value"]}]}}}"""
                : """{"response":{"status":"201 Created","etag":"W/\"1\""}}""";

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            var json = request.RequestUri!.AbsolutePath.EndsWith("/Device", StringComparison.Ordinal)
                ? """{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Device","id":"d1","identifier":[{"value":"device1"}],"patient":{"reference":"Patient/p1"}}}]}"""
                : """{"resourceType":"Bundle","type":"batch-response","entry":[""" + string.Join(",", System.Text.Json.JsonDocument.Parse(body).RootElement
                    .GetProperty("entry").EnumerateArray().Select(Answer)) + "]}";
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/fhir+json") };
        }
    }
}
