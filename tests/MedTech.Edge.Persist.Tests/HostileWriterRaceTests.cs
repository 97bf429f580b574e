using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests;

/// <summary>
/// Hostile review of issue 20: two writers that both find an Observation missing (the old owner of a partition whose
/// write is in flight across a rebalance, and the new owner), through the real FHIR test server.
/// </summary>
[Collection(FhirServerGroup.Name)]
public class HostileWriterRaceTests(FhirServerFixture fixture)
{
    private readonly string device = "race-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task GivenTwoWritersCreatingOneObservation_WhenTheFirstWriteLandsAfterTheSecond_ThenNoSampleIsLost()
    {
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        using var gate = new HoldFirstWrite();
        using var old = FhirServerFixture.Persister(Client(gate));
        using var next = FhirServerFixture.Persister(fixture.Client());

        // The old owner read the Observation (missing) and sent its create; the request is still on the wire.
        var inFlight = old.PersistAsync([HeartRate("2026-11-24T08:00:01Z", "71")], default);
        await gate.Held.Task.WaitAsync(TimeSpan.FromMinutes(1));
        // Meanwhile the new owner finds the Observation missing too and creates it with its own sample.
        var second = await next.PersistAsync([HeartRate("2026-11-24T08:00:02Z", "72")], default);
        gate.Release.SetResult();
        var first = await inFlight;

        Assert.Equal((0, 0), (first.Errors.Count, second.Errors.Count));
        Assert.Equal(["71", "72"], (await ChartedValues.ReadAsync(fixture.Client(), ids.PatientId, ids.DeviceId)).Values.Order());
    }

    [Fact]
    public async Task GivenTheOldOwnersCreateLandsAfterTheNewOwnersAndTheOldOwnerIsGone_WhenTheNewOwnerWritesAgain_ThenNoSampleIsLost()
    {
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        using var gate = new HoldFirstWrite { DieAtHistory = true };
        using var old = FhirServerFixture.Persister(Client(gate));
        using var next = FhirServerFixture.Persister(fixture.Client());

        // The old owner's create is on the wire when it is stopped; it lands after the new owner's create and replaces
        // it, and the old owner is gone before it can look at what it replaced.
        var inFlight = old.PersistAsync([HeartRate("2026-11-24T08:00:01Z", "71")], default);
        await gate.Held.Task.WaitAsync(TimeSpan.FromMinutes(1));
        await next.PersistAsync([HeartRate("2026-11-24T08:00:02Z", "72")], default);
        gate.Release.SetResult();
        await Assert.ThrowsAnyAsync<Exception>(() => inFlight);

        // The new owner's next reading for the same Observation conflicts with the replacing version.
        var third = await next.PersistAsync([HeartRate("2026-11-24T08:00:03Z", "73")], default);

        Assert.Empty(third.Errors);
        Assert.Equal(["71", "72", "73"], (await ChartedValues.ReadAsync(fixture.Client(), ids.PatientId, ids.DeviceId)).Values.Order());
    }

    private FhirServerClient Client(HoldFirstWrite gate)
    {
        var options = new FhirServerOptions { Url = fixture.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        gate.InnerHandler = new SocketsHttpHandler();
        return new FhirServerClient(new HttpClient(gate) { BaseAddress = fixture.Server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
    }

    private Measurement HeartRate(string time, string value) => Build.Measurement("heartrate", time, ("hr", value)) with { DeviceId = device, PatientId = null };

    /// <summary>Holds the first Observation write bundle until released (a request on the wire across a rebalance).</summary>
    private sealed class HoldFirstWrite : DelegatingHandler
    {
        private int seen;

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The writer dies (its request is cancelled) when it reads an Observation's history after its write.</summary>
        public bool DieAtHistory { get; init; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            if (request.Method == HttpMethod.Post && body.Contains("\"PUT\"", StringComparison.Ordinal) && body.Contains("\"Observation/", StringComparison.Ordinal)
                && Interlocked.Increment(ref seen) == 1)
            {
                Held.SetResult();
                await Release.Task.WaitAsync(cancellationToken);
            }

            if (DieAtHistory && body.Contains("/_history", StringComparison.Ordinal))
            {
                throw new OperationCanceledException("The writer was stopped.");
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
