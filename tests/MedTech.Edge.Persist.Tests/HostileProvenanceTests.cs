using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Persist.Tests;

/// <summary>Hostile review of issue 20: a writer stopped between its Observation write and its Provenance write, through the real FHIR test server.</summary>
[Collection(FhirServerGroup.Name)]
public class HostileProvenanceTests(FhirServerFixture fixture)
{
    private readonly string device = "prov-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async System.Threading.Tasks.Task GivenAWriterStoppedAfterItsObservationsWereWritten_WhenTheBatchIsWrittenAgain_ThenTheWrittenVersionStillGetsAProvenance()
    {
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        Measurement[] batch = [HeartRate("2026-11-24T08:00:01Z", "71")];
        using var stop = new CancellationTokenSource();
        using var stopped = FhirServerFixture.Persister(Client(new StopAtProvenance(stop)));

        // A revocation past its grace (or a kill) stops the writer once the server has the Observation, before its Provenance.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopped.PersistAsync(batch, m => new("hub/0/41"), stop.Token));
        // The batch was not committed: the next owner (or the restarted writer) writes it again.
        using var next = FhirServerFixture.Persister(fixture.Client());
        await next.PersistAsync(batch, m => new("hub/0/41"), default);

        var client = fixture.Client();
        var observation = Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&device=Device/{ids.DeviceId}", default));
        var version = $"Observation/{observation.Id}/_history/{observation.Meta!.VersionId}";
        Assert.Contains(await client.SearchAsync<Provenance>("Provenance?_count=1000", default), p => p.Target.Any(t => t.Reference == version));
    }

    private FhirServerClient Client(DelegatingHandler handler)
    {
        var options = new FhirServerOptions { Url = fixture.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        handler.InnerHandler = new SocketsHttpHandler();
        return new FhirServerClient(new HttpClient(handler) { BaseAddress = fixture.Server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
    }

    private Measurement HeartRate(string time, string value) => Build.Measurement("heartrate", time, ("hr", value)) with { DeviceId = device, PatientId = null };

    /// <summary>Stops the writer (cancels its token) when it sends its Provenance bundle.</summary>
    private sealed class StopAtProvenance(CancellationTokenSource stop) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            if (body.Contains("\"Provenance\"", StringComparison.Ordinal))
            {
                await stop.CancelAsync();
                cancellationToken.ThrowIfCancellationRequested();
                throw new OperationCanceledException(stop.Token);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
