using System.Net;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist.Tests;

/// <summary>Transform and Persist through the real FHIR server.</summary>
[Collection(FhirServerGroup.Name)]
public class ObservationPersisterTests(FhirServerFixture fixture)
{
    private readonly string device = "monitor-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async System.Threading.Tasks.Task GivenTwoBatchesInOneHour_WhenPersisted_ThenOneSampledDataObservationIsCreatedThenMerged()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);

        var first = await persister.PersistAsync([HeartRate("2026-11-24T08:00:01Z", "71"), HeartRate("2026-11-24T08:00:02Z", "72")], default);
        var second = await persister.PersistAsync([HeartRate("2026-11-24T08:00:04Z", "74")], default);

        Assert.Equal((1, 0, 0), (first.Created, first.Updated, first.Errors.Count));
        Assert.Equal((0, 1, 0), (second.Created, second.Updated, second.Errors.Count));
        var stored = await ReadHourAsync(client, ids, "2026-11-24T08:00:00Z");
        Assert.Equal(ObservationStatus.Amended, stored.Status);
        Assert.StartsWith("E 71 72 E 74 E", ((SampledData)stored.Value!).Data);
        Assert.Equal($"{ids.PatientId}.{ids.DeviceId}.heartrate.20261124080000Z.20261124085959Z", stored.Identifier.Single().Value);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAPersistedBatch_WhenTheSameBatchIsReplayedByAFreshWriter_ThenTheServerIsUnchanged()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        Measurement[] batch = [HeartRate("2026-11-24T09:10:00Z", "80"), HeartRate("2026-11-24T10:10:00Z", "81"), Weight("2026-11-24T09:10:00Z", "70.5")];
        using (var writer = FhirServerFixture.Persister(client))
        {
            await writer.PersistAsync(batch, default);
        }

        var before = await ReadHourAsync(client, ids, "2026-11-24T09:00:00Z");
        using var fresh = FhirServerFixture.Persister(client);
        var replay = await fresh.PersistAsync(batch, default);
        var again = await fresh.PersistAsync(batch, default);

        Assert.Equal((0, 0, 3), (replay.Created, replay.Updated, replay.Unchanged));
        Assert.Equal((0, 0, 3), (again.Created, again.Updated, again.Unchanged));
        Assert.Equal(before.Meta!.VersionId, (await ReadHourAsync(client, ids, "2026-11-24T09:00:00Z")).Meta!.VersionId);
        Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&code=http://loinc.org|29463-7", default));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenADeviceTheServerDoesNotKnow_WhenPersistedInLookupMode_ThenItsGroupFailsAndTheRestIsPersisted()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);

        var result = await persister.PersistAsync(
            [HeartRate("2026-11-24T11:00:00Z", "60") with { DeviceId = "unknown-" + device }, HeartRate("2026-11-24T11:00:00Z", "61"), Measurement("unmapped", "2026-11-24T11:00:00Z", ("x", "1"))],
            default);

        Assert.Equal(1, result.Created);
        Assert.Equal([FhirErrorCodes.DeviceNotFound, FhirErrorCodes.TemplateNotFound], result.Errors.Select(e => e.Code).Order());
        Assert.Equal("unknown-" + device, result.Errors.Single(e => e.Code == FhirErrorCodes.DeviceNotFound).Group.Key.DeviceId);
        Assert.StartsWith("61 ", ((SampledData)(await ReadHourAsync(client, ids, "2026-11-24T11:00:00Z")).Value!).Data);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenCreateMode_WhenANewDeviceAndPatientArePersisted_ThenTheyAreCreatedWithDeterministicIdsAndLinked()
    {
        var client = fixture.Client();
        using var persister = FhirServerFixture.Persister(client, ResourceIdentityMode.Create);
        var patient = "mrn-" + device;

        var result = await persister.PersistAsync([HeartRate("2026-11-24T12:00:00Z", "90") with { PatientId = patient }], default);

        Assert.Equal((1, 0), (result.Created, result.Errors.Count));
        var expected = IdentityResolver.DeterministicIds(device, patient, null);
        var storedDevice = Assert.Single(await client.SearchAsync<Device>($"Device?identifier={device}", default));
        Assert.Equal(expected.DeviceId, storedDevice.Id);
        Assert.Equal($"Patient/{expected.PatientId}", storedDevice.Patient!.Reference);
        Assert.Equal(patient, Assert.Single(await client.SearchAsync<Patient>($"Patient?identifier={patient}", default)).Identifier.Single().Value);
        Assert.NotNull(await ReadHourAsync(client, expected, "2026-11-24T12:00:00Z"));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenCreateModeAndADeviceLinkedToAnotherPatient_WhenPersisted_ThenTheReadingIsAMismatchNotChartedToTheDevicesPatient()
    {
        // Upstream charts it to the Device's patient, silently: the message names another patient, so that could be the
        // wrong one. Here it is PatientDeviceMismatch, which upstream raises only on its create path.
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client, ResourceIdentityMode.Create);

        var result = await persister.PersistAsync([HeartRate("2026-11-24T12:00:00Z", "90") with { PatientId = "someone-else" }], default);

        Assert.Equal((0, FhirErrorCodes.PatientDeviceMismatch), (result.Created, Assert.Single(result.Errors).Code));
        // No Observation of that hour on the Device's patient (ReadHourAsync wants exactly one).
        Assert.IsType<Xunit.Sdk.SingleException>(await Record.ExceptionAsync(() => ReadHourAsync(client, ids, "2026-11-24T12:00:00Z")));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenTwoWritersWithStaleCopies_WhenBothMergeIntoOneObservation_ThenIfMatchKeepsEveryValue()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        var clientA = fixture.Client();
        using var a = FhirServerFixture.Persister(clientA);
        using var b = FhirServerFixture.Persister(client);
        await a.PersistAsync([HeartRate("2026-11-24T13:00:00Z", "60")], default);
        await b.PersistAsync([HeartRate("2026-11-24T13:00:01Z", "61")], default);
        var before = clientA.RequestCount;

        // a still holds the first version in its cache: its If-Match fails (412), it re-reads and merges into b's version.
        var result = await a.PersistAsync([HeartRate("2026-11-24T13:00:02Z", "62")], default);
        // The failed write, the re-read and the recent history (where a replacing create's dropped samples would be),
        // the write, and the Provenance of what was written.
        Assert.Equal(5, clientA.RequestCount - before);
        await System.Threading.Tasks.Task.WhenAll(Enumerable.Range(3, 6).Select(async i =>
        {
            using var writer = FhirServerFixture.Persister(client);
            await writer.PersistAsync([HeartRate($"2026-11-24T13:00:0{i}Z", $"6{i}")], default);
        }));

        Assert.Equal((1, 0), (result.Updated, result.Errors.Count));
        Assert.StartsWith("60 61 62 63 64 65 66 67 68 E", ((SampledData)(await ReadHourAsync(client, ids, "2026-11-24T13:00:00Z")).Value!).Data);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAServerThatAnswers503ThenRecovers_WhenPersisted_ThenTheBatchIsWrittenAfterRetries()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);
        await fixture.Server.FailNextAsync(3, HttpStatusCode.ServiceUnavailable);
        var before = client.RequestCount;

        var result = await persister.PersistAsync([HeartRate("2026-11-24T14:00:00Z", "70")], default);

        Assert.Equal((1, 0), (result.Created, result.Errors.Count));
        Assert.True(client.RequestCount - before >= 3 + 3, "the three failed attempts and the device lookup, read and write");
        Assert.NotNull(await ReadHourAsync(client, ids, "2026-11-24T14:00:00Z"));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAServerThatStaysDown_WhenPersisted_ThenTheBatchFailsAsUnavailableAndNothingIsReportedDone()
    {
        var client = fixture.Client();
        await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);
        await fixture.Server.FailNextAsync(100, HttpStatusCode.ServiceUnavailable);

        try
        {
            await Assert.ThrowsAsync<FhirServerUnavailableException>(() => persister.PersistAsync([HeartRate("2026-11-24T15:00:00Z", "70")], default));
        }
        finally
        {
            await fixture.Server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
        }
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenSteadyTraffic_WhenSeveralBatchesArePersisted_ThenTheDeviceIsLookedUpOnceAndEachBatchIsOneWriteAndOneProvenance()
    {
        var client = fixture.Client();
        await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);
        await persister.PersistAsync([HeartRate("2026-11-24T16:00:00Z", "70")], default);
        var before = client.RequestCount;

        foreach (var second in Enumerable.Range(1, 5))
        {
            await persister.PersistAsync([HeartRate($"2026-11-24T16:00:0{second}Z", "7" + second)], default);
        }

        Assert.Equal(5 * 2, client.RequestCount - before);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenLookupWithEncounterAndAnEncounterOfAnotherPatient_WhenPersisted_ThenTheGroupIsAnEncounterPatientMismatchAndNothingIsWritten()
    {
        var client = fixture.Client();
        await FhirServerFixture.RegisterAsync(client, device);
        await client.PutAsync(new Encounter
        {
            Id = "e-other-" + device,
            Identifier = [new Identifier(null, "visit-other-" + device)],
            Status = Encounter.EncounterStatus.InProgress,
            Class = new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP"),
            Subject = new ResourceReference("Patient/someone-else-" + device),
        }, null, default);
        using var persister = FhirServerFixture.Persister(client, ResourceIdentityMode.LookupWithEncounter);

        var result = await persister.PersistAsync([Weight("2026-11-24T18:00:00Z", "70") with { EncounterId = "visit-other-" + device }], default);

        Assert.Equal((0, FhirErrorCodes.EncounterPatientMismatch), (result.Created, Assert.Single(result.Errors).Code));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenLookupWithEncounter_WhenAMeasurementHasAKnownEncounterOrNone_ThenTheObservationIsLinkedOrTheGroupFails()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        var encounter = await client.PutAsync(new Encounter
        {
            Id = "e-" + device,
            Identifier = [new Identifier(null, "visit-" + device)],
            Status = Encounter.EncounterStatus.InProgress,
            Class = new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP"),
        }, null, default);
        using var persister = FhirServerFixture.Persister(client, ResourceIdentityMode.LookupWithEncounter);
        var before = client.RequestCount;

        var result = await persister.PersistAsync(
            [Weight("2026-11-24T17:00:00Z", "70") with { EncounterId = "visit-" + device }, Weight("2026-11-24T17:01:00Z", "71"),
             Weight("2026-11-24T17:02:00Z", "72") with { EncounterId = "unknown-visit" }],
            default);

        // One bundle with the Device search and both Encounter searches, one reading the Observation, one writing it,
        // one writing its Provenance.
        Assert.Equal(4, client.RequestCount - before);
        Assert.Equal(1, result.Created);
        Assert.Equal([FhirErrorCodes.EncounterIdentityNotDefined, FhirErrorCodes.EncounterNotFound], result.Errors.Select(e => e.Code).Order());
        var stored = Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&code=http://loinc.org|29463-7", default));
        Assert.Equal($"Encounter/{encounter.Id}", stored.Encounter!.Reference);
        Assert.Contains($".{ids.DeviceId}.weight.20261124170000Z.20261124170000Z", stored.Identifier.Single().Value);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenTwoDevicesWithTheSameIdentifier_WhenPersisted_ThenMultipleDeviceFound()
    {
        var client = fixture.Client();
        await FhirServerFixture.RegisterAsync(client, device);
        await client.PutAsync(new Device { Id = "copy-" + device, Identifier = [new Identifier(null, device)] }, null, default);
        using var persister = FhirServerFixture.Persister(client);

        var result = await persister.PersistAsync([HeartRate("2026-11-24T18:00:00Z", "70")], default);

        Assert.Equal(FhirErrorCodes.MultipleDeviceFound, Assert.Single(result.Errors).Code);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenABatchFromDevicesNotSeenYet_WhenPersisted_ThenTheirDevicesAreSearchedWithOneRequestAndFailuresKeepTheirCodes()
    {
        var client = fixture.Client();
        var known = new[] { "a", "b", "c" }.Select(s => $"{device}-{s}").ToList();
        var ids = new List<ResourceIds>();
        foreach (var identifier in known.Append($"{device}-dup"))
        {
            ids.Add(await FhirServerFixture.RegisterAsync(client, identifier));
        }

        await client.PutAsync(new Device { Id = $"copy-{device}-dup", Identifier = [new Identifier(null, $"{device}-dup")] }, null, default);
        using var persister = FhirServerFixture.Persister(client);
        var before = client.RequestCount;

        var result = await persister.PersistAsync(
            [.. known.Append($"{device}-dup").Append($"{device}-unknown").Select(d => HeartRate("2026-11-24T19:00:00Z", "70") with { DeviceId = d })], default);

        // One bundle of five Device searches, one bundle reading the three Observations, one bundle writing them, one
        // reading the histories of those created with SampledData (another writer's create may have been replaced), one
        // writing their Provenance.
        Assert.Equal(5, client.RequestCount - before);
        Assert.Equal(3, result.Created);
        Assert.Equal([FhirErrorCodes.DeviceNotFound, FhirErrorCodes.MultipleDeviceFound], result.Errors.Select(e => e.Code).Order());
        foreach (var created in ids.Take(3))
        {
            Assert.StartsWith("70 ", ((SampledData)(await ReadHourAsync(client, created, "2026-11-24T19:00:00Z")).Value!).Data);
        }
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenCreateModeAndOneNewDeviceNamedWithTwoPatientsInABatch_WhenPersisted_ThenTheDeviceIsCreatedOnceForTheFirstAndTheSecondIsAMismatch()
    {
        var client = fixture.Client();
        using var persister = FhirServerFixture.Persister(client, ResourceIdentityMode.Create);

        // The batch's Device searches (one bundle, before anything exists) find nothing for either device; the second
        // group of the first device must not take that for the server's state, but find the Device the first group created.
        var result = await persister.PersistAsync(
            [HeartRate("2026-11-24T20:00:00Z", "80") with { PatientId = "first-" + device }, HeartRate("2026-11-24T20:00:01Z", "81") with { PatientId = "second-" + device },
             HeartRate("2026-11-24T20:00:00Z", "82") with { DeviceId = device + "-other", PatientId = "other-" + device }], default);

        // The second patient's reading is not charted to the first patient, whom the Device now names.
        Assert.Equal(FhirErrorCodes.PatientDeviceMismatch, Assert.Single(result.Errors).Code);
        var stored = Assert.Single(await client.SearchAsync<Device>($"Device?identifier={device}", default));
        Assert.Equal($"Patient/{IdentityResolver.DeterministicIds(device, "first-" + device, null).PatientId}", stored.Patient!.Reference);
        Assert.Single(await client.SearchAsync<Device>($"Device?identifier={device}-other", default));
    }

    private Measurement HeartRate(string time, string value) => Measurement("heartrate", time, ("hr", value));

    private Measurement Weight(string time, string value) => Measurement("weight", time, ("kg", value));

    private Measurement Measurement(string type, string time, params (string, string)[] properties) =>
        Build.Measurement(type, time, properties) with { DeviceId = device, IngestionTimeUtc = DateTime.UtcNow };

    private static async Task<Observation> ReadHourAsync(FhirServerClient client, ResourceIds ids, string hour)
    {
        var start = Build.Utc(hour);
        var group = new ObservationGroup("heartrate", start, start.AddHours(1).AddTicks(-1), $"{start:yyyyMMddHH}0000Z.{start:yyyyMMddHH}5959Z", new Dictionary<string, IReadOnlyList<TimedValue>>());
        var id = ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(ids, group));
        var found = await client.SearchAsync<Observation>($"Observation?_id={id}", default);
        return Assert.Single(found);
    }
}
