using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests;

/// <summary>Hostile review of issue 20: attacks on "the right patient", through the real FHIR test server.</summary>
[Collection(FhirServerGroup.Name)]
public class HostileAssociationTests(FhirServerFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string device = "hostile-" + Guid.NewGuid().ToString("N")[..12];
    private readonly FakeTimeProvider clock = new(DateTimeOffset.UtcNow);

    [Fact]
    public async Task GivenAStatementRecordedOnTheWrongMonitor_WhenItIsCorrectedToTheRightDevice_ThenTheWrongMonitorNoLongerChartsToThatPatient()
    {
        // The statement said this monitor was on patient A; the nurse corrects it to the monitor A really had.
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        var other = await FhirServerFixture.RegisterAsync(client, device + "-other");
        await client.PutAsync(BoundedStalenessTests.Statement("s-" + device, ids.PatientId, ids.DeviceId, "2026-11-24T00:00:00Z", null), null, default);
        using var persister = Persister(client, PatientAssociation.DeviceUseStatement);
        await persister.PersistAsync([HeartRate("2026-11-24T10:00:00Z", "70")], default);

        await client.PutAsync(BoundedStalenessTests.Statement("s-" + device, ids.PatientId, other.DeviceId, "2026-11-24T00:00:00Z", null), null, default);
        clock.Advance(Bound);
        var result = await persister.PersistAsync([HeartRate("2026-11-24T10:00:05Z", "75")], default);

        // No statement names this monitor any more: the reading is a dead letter, not charted to A (the bound has passed).
        Assert.DoesNotContain("75", (await ChartedValues.ReadAsync(client, ids.PatientId, ids.DeviceId)).Values);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, Assert.Single(result.Errors).Code);
    }

    [Fact]
    public async Task GivenARelinkWithOffsetsAtTheReadingsInstant_WhenABacklogArrives_ThenEachReadingIsChartedByItsInstant()
    {
        // Holds: the same instants written in other offsets; the re-link at exactly a reading's time.
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        var b = (await client.PutAsync(new Patient { Id = "pb-" + device }, null, default)).Id!;
        await client.PutAsync(BoundedStalenessTests.Statement("s1-" + device, ids.PatientId, ids.DeviceId, "2026-11-24T01:00:00+01:00", "2026-11-24T12:30:00+02:00"), null, default);
        await client.PutAsync(BoundedStalenessTests.Statement("s2-" + device, b, ids.DeviceId, "2026-11-24T05:30:00-05:00", null), null, default);
        using var persister = Persister(client, PatientAssociation.DeviceUseStatement);

        var result = await persister.PersistAsync(
            [HeartRate("2026-11-24T10:29:59Z", "59"), HeartRate("2026-11-24T10:30:00Z", "60"), HeartRate("2026-11-24T10:30:01Z", "61")], default);

        Assert.Empty(result.Errors);
        Assert.Equal(["59"], (await ChartedValues.ReadAsync(client, ids.PatientId, ids.DeviceId)).Values);
        Assert.Equal(["60", "61"], (await ChartedValues.ReadAsync(client, b, ids.DeviceId)).Values.Order());
    }

    [Fact]
    public async Task GivenLookupWithEncounterAndAReadingSplitAcrossARelink_WhenPersisted_ThenThePatientAfterTheRelinkGetsNoEncounterOfTheFormerPatient()
    {
        // The monitor's messages still name patient A's visit (the gateway's context was not updated with the move).
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        var b = (await client.PutAsync(new Patient { Id = "pb-" + device }, null, default)).Id!;
        var visit = await client.PutAsync(new Encounter
        {
            Id = "e-" + device,
            Identifier = [new Identifier(null, "visit-" + device)],
            Status = Encounter.EncounterStatus.InProgress,
            Class = new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP"),
            Subject = new ResourceReference($"Patient/{ids.PatientId}"),
        }, null, default);
        await client.PutAsync(BoundedStalenessTests.Statement("s1-" + device, ids.PatientId, ids.DeviceId, "2026-11-24T00:00:00Z", "2026-11-24T10:30:00Z"), null, default);
        await client.PutAsync(BoundedStalenessTests.Statement("s2-" + device, b, ids.DeviceId, "2026-11-24T10:30:00Z", null), null, default);
        using var persister = new ObservationPersister(
            client,
            new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "LookupWithEncounter", Association = "DeviceUseStatement", MaxStaleness = Bound }, clock),
            FhirMapping.Parse(FhirServerFixture.Mapping).EnsureValid("test mapping"),
            new PersistenceOptions { Provenance = false },
            NullLogger<ObservationPersister>.Instance);

        await persister.PersistAsync(
            [HeartRate("2026-11-24T10:29:00Z", "59") with { EncounterId = "visit-" + device }, HeartRate("2026-11-24T10:31:00Z", "61") with { EncounterId = "visit-" + device }], default);

        // Patient B's Observation must not sit in patient A's Encounter (encounter-based views would show it on A's chart).
        var ofB = await client.SearchAsync<Observation>($"Observation?subject=Patient/{b}", default);
        Assert.DoesNotContain(ofB, o => o.Encounter?.Reference == $"Encounter/{visit.Id}");
    }

    [Fact]
    public async Task GivenAStatementRecordedByMistake_WhenItIsDeletedRatherThanMarkedEnteredInError_ThenTheMonitorNoLongerChartsToThatPatientOnceTheBoundHasPassed()
    {
        // Documented (CacheExpiry, 2 h by default), but a deletion is how many sites and tools undo a mistaken record.
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        await client.PutAsync(BoundedStalenessTests.Statement("s-" + device, ids.PatientId, ids.DeviceId, "2026-11-24T00:00:00Z", null), null, default);
        using var persister = Persister(client, PatientAssociation.DeviceUseStatement);
        await persister.PersistAsync([HeartRate("2026-11-24T10:00:00Z", "70")], default);

        var delete = new Bundle { Type = Bundle.BundleType.Batch };
        delete.Entry.Add(new Bundle.EntryComponent { Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.DELETE, Url = $"DeviceUseStatement/s-{device}" } });
        await client.BatchAsync(delete, default);
        Assert.Empty(await client.SearchAsync<DeviceUseStatement>($"DeviceUseStatement?device=Device/{ids.DeviceId}", default));
        clock.Advance(Bound);
        var result = await persister.PersistAsync([HeartRate("2026-11-24T10:00:05Z", "75")], default);

        Assert.DoesNotContain("75", (await ChartedValues.ReadAsync(client, ids.PatientId, ids.DeviceId)).Values);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, Assert.Single(result.Errors).Code);
    }

    private ObservationPersister Persister(FhirServerClient client, PatientAssociation association) => new(
        client,
        new IdentityResolver(client, new ResourceIdentityOptions { Association = association.ToString(), MaxStaleness = Bound }, clock),
        FhirMapping.Parse(FhirServerFixture.Mapping).EnsureValid("test mapping"),
        new PersistenceOptions { Provenance = false },
        NullLogger<ObservationPersister>.Instance);

    private Measurement HeartRate(string time, string value) => Build.Measurement("heartrate", time, ("hr", value)) with { DeviceId = device, PatientId = null };
}
