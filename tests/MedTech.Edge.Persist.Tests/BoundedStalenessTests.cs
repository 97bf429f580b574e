using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests;

/// <summary>
/// A re-linked Device is seen within <see cref="ResourceIdentityOptions.MaxStaleness"/> under steady traffic, and
/// staying current costs about nothing: through the real FHIR server, with the writer's clock moved by hand.
/// </summary>
[Collection(FhirServerGroup.Name)]
public class BoundedStalenessTests(FhirServerFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string device = "monitor-" + Guid.NewGuid().ToString("N")[..12];
    private readonly FakeTimeProvider clock = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task GivenAMonitorSendingSteadily_WhenItsDeviceIsRelinked_ThenReadingsGoToTheNewPatientOnceTheBoundHasPassed()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = Persister(client, PatientAssociation.CurrentDevice);
        await persister.PersistAsync([HeartRate("2026-11-24T08:00:01Z", "71")], default);

        var b = await RelinkAsync(client, ids.DeviceId);
        clock.Advance(Bound - TimeSpan.FromSeconds(1));
        var before = client.RequestCount;
        await persister.PersistAsync([HeartRate("2026-11-24T08:00:02Z", "72")], default);
        var withinBound = client.RequestCount - before;
        clock.Advance(TimeSpan.FromSeconds(1));
        await persister.PersistAsync([HeartRate("2026-11-24T08:00:03Z", "73")], default);

        // Within the bound the cached identity is used (MedTech's behaviour, now bounded): one write, no lookup.
        Assert.Equal(1, withinBound);
        Assert.Equal(["71", "72"], (await ChartedValues.ReadAsync(client, ids.PatientId, ids.DeviceId)).Values.Order());
        Assert.Equal(["73"], (await ChartedValues.ReadAsync(client, b, ids.DeviceId)).Values);
    }

    [Theory]
    [InlineData(PatientAssociation.CurrentDevice, 0)]
    [InlineData(PatientAssociation.DeviceHistory, 0)]
    [InlineData(PatientAssociation.DeviceUseStatement, 1)]
    public async Task GivenSteadyTrafficOverSeveralBounds_WhenNothingChanges_ThenEachBoundCostsOneRevalidationRequestForAllDevices(PatientAssociation association, int statementsPerDevice)
    {
        var client = fixture.Client();
        var monitors = Enumerable.Range(0, 5).Select(i => $"{device}-{i}").ToList();
        foreach (var monitor in monitors)
        {
            var ids = await FhirServerFixture.RegisterAsync(client, monitor);
            for (var s = 0; s < statementsPerDevice; s++)
            {
                await client.PutAsync(Statement("s-" + monitor, ids.PatientId, ids.DeviceId, "2026-11-24T00:00:00Z", null), null, default);
            }
        }

        // Measured after the Devices were registered (their history starts then), all in one hour.
        var now = DateTime.UtcNow;
        var hour = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc).AddHours(1);
        using var persister = Persister(client, association);
        var cold = client.RequestCount;
        await persister.PersistAsync(monitors.Select(m => Reading(m, hour, "60")).ToList(), default);
        // A cold start: the Device searches in one bundle, their association histories in another, the Observation read
        // and write, and the new Observation's history (a create by another writer it may have replaced).
        Assert.Equal(association == PatientAssociation.CurrentDevice ? 4 : 5, client.RequestCount - cold);
        var before = client.RequestCount;
        var batches = 0;
        for (var second = 1; second <= 95; second++, batches++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            var result = await persister.PersistAsync(monitors.Select(m => Reading(m, hour.AddSeconds(second), "61")).ToList(), default);
            Assert.Equal((5, 0), (result.Created + result.Updated, result.Errors.Count));
        }

        // One write per batch, and per bound one batch request revalidating all five devices: the Device searches, and
        // with DeviceUseStatements their changed statements (none); an unchanged Device's history is not read again.
        Assert.Equal(batches + 3, client.RequestCount - before);
    }

    [Fact]
    public async Task GivenDeviceUseStatementAssociation_WhenTheMonitorIsMovedToAnotherPatient_ThenTheChangedStatementsAreFoundByTheRevalidation()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        var b = (await client.PutAsync(new Patient { Id = "pb-" + device }, null, default)).Id!;
        await client.PutAsync(Statement("s1-" + device, ids.PatientId, ids.DeviceId, "2026-11-24T00:00:00Z", null), null, default);
        using var persister = Persister(client, PatientAssociation.DeviceUseStatement);
        await persister.PersistAsync([HeartRate("2026-11-24T10:00:00Z", "70")], default);

        await client.PutAsync(Statement("s1-" + device, ids.PatientId, ids.DeviceId, "2026-11-24T00:00:00Z", "2026-11-24T10:00:05Z"), null, default);
        await client.PutAsync(Statement("s2-" + device, b, ids.DeviceId, "2026-11-24T10:00:05Z", null), null, default);
        clock.Advance(Bound);
        var result = await persister.PersistAsync([HeartRate("2026-11-24T10:00:04Z", "74"), HeartRate("2026-11-24T10:00:05Z", "75")], default);

        Assert.Empty(result.Errors);
        Assert.Equal(["70", "74"], (await ChartedValues.ReadAsync(client, ids.PatientId, ids.DeviceId)).Values.Order());
        Assert.Equal(["75"], (await ChartedValues.ReadAsync(client, b, ids.DeviceId)).Values);
    }

    // Provenance off: these tests count the requests identity costs (ProvenanceTests count the one Provenance adds).
    private ObservationPersister Persister(FhirServerClient client, PatientAssociation association) => new(
        client,
        new IdentityResolver(client, new ResourceIdentityOptions { Association = association.ToString(), MaxStaleness = Bound }, clock),
        FhirMapping.Parse(FhirServerFixture.Mapping).EnsureValid("test mapping"),
        new PersistenceOptions { Provenance = false },
        NullLogger<ObservationPersister>.Instance);

    /// <summary>Moves the Device to a new Patient, as a nurse re-linking the monitor would; the new Patient's id.</summary>
    private async Task<string> RelinkAsync(FhirServerClient client, string deviceId)
    {
        var patient = await client.PutAsync(new Patient { Id = "pb-" + device }, null, default);
        var stored = Assert.Single(await client.SearchAsync<Device>($"Device?_id={deviceId}", default));
        stored.Patient = new ResourceReference($"Patient/{patient.Id}");
        await client.PutAsync(stored, null, default);
        return patient.Id!;
    }

    internal static DeviceUseStatement Statement(string id, string patientId, string deviceId, string start, string? end) => new()
    {
        Id = id,
        Status = end is null ? DeviceUseStatement.DeviceUseStatementStatus.Active : DeviceUseStatement.DeviceUseStatementStatus.Completed,
        Subject = new ResourceReference($"Patient/{patientId}"),
        Device = new ResourceReference($"Device/{deviceId}"),
        Timing = new Period { Start = start, End = end },
    };

    private static Measurement Reading(string monitor, DateTime time, string value) => new()
    {
        Type = "heartrate",
        OccurrenceTimeUtc = time,
        DeviceId = monitor,
        Properties = [new MeasurementProperty("hr", value)],
    };

    private Measurement HeartRate(string time, string value) => Build.Measurement("heartrate", time, ("hr", value)) with { DeviceId = device, PatientId = null };
}
