using System.Net;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist.Tests;

/// <summary>The Provenance of each write bundle, through the real FHIR server, read back from it.</summary>
[Collection(FhirServerGroup.Name)]
public class ProvenanceTests(FhirServerFixture fixture)
{
    private const string ParticipantTypes = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
    private readonly string device = "monitor-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async System.Threading.Tasks.Task GivenANewHour_WhenPersisted_ThenOneProvenanceTargetsEachWrittenVersionWithAgentsTimesAndSources()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);
        Measurement[] batch = [HeartRate("2026-11-24T08:00:01Z", "71"), HeartRate("2026-11-24T08:00:05Z", "72"), Weight("2026-11-24T08:30:00Z", "70.5")];
        var sources = new Dictionary<Measurement, MeasurementSource>(ReferenceEqualityComparer.Instance)
        {
            [batch[0]] = new("hub/0/41", "ward-3-gateway"),
            [batch[1]] = new("hub/0/42", "ward-3-gateway"),
            [batch[2]] = new("hub/1/7"),
        };
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        var result = await persister.PersistAsync(batch, m => sources.GetValueOrDefault(m), default);

        Assert.Equal((2, 1, 0), (result.Created, result.ProvenanceWritten, result.ProvenanceFailed));
        var heartRate = await ReadAsync(client, ids, "heartrate", "2026-11-24T08:00:00Z");
        var weight = Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&code=http://loinc.org|29463-7", default));
        var provenance = Assert.Single(await ProvenancesOfAsync(client, heartRate.Id!));
        Assert.Equal(new[] { Versioned(heartRate), Versioned(weight) }.Order(StringComparer.Ordinal), provenance.Target.Select(t => t.Reference));
        Assert.Equal(("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "CREATE"), (provenance.Activity!.Coding[0].System, provenance.Activity!.Coding[0].Code));
        Assert.InRange(provenance.Recorded!.Value, before, DateTimeOffset.UtcNow.AddSeconds(1));
        var occurred = Assert.IsType<Period>(provenance.Occurred);
        Assert.Equal((Build.Utc("2026-11-24T08:00:01Z"), Build.Utc("2026-11-24T08:30:00Z")), (occurred.StartElement!.ToDateTimeOffset(TimeSpan.Zero).UtcDateTime, occurred.EndElement!.ToDateTimeOffset(TimeSpan.Zero).UtcDateTime));
        Assert.Equal(
            [("performer", ObservationProvenance.WriterSystem, "medtech-edge-writer"), ("assembler", ObservationProvenance.GatewaySystem, "ward-3-gateway")],
            provenance.Agent.Select(a => (a.Type!.Coding.Single(c => c.System == ParticipantTypes).Code, a.Who!.Identifier!.System, a.Who.Identifier.Value)).ToList());
        Assert.All(provenance.Agent, a => Assert.Equal("Device", a.Who!.Type));
        Assert.Equal(["hub/0/41-42", "hub/1/7"], provenance.Entity.Select(e => e.What!.Identifier!.Value).ToList());
        Assert.All(provenance.Entity, e => Assert.Equal((Provenance.ProvenanceEntityRole.Source, ObservationProvenance.HubMessageSystem), (e.Role, e.What!.Identifier!.System)));
        // Nothing of the measurements themselves: no device or patient id, no value.
        var json = FhirJson.Serialize(provenance);
        Assert.DoesNotContain(device, json, StringComparison.Ordinal);
        Assert.DoesNotContain(ids.PatientId, json, StringComparison.Ordinal);
        Assert.DoesNotContain("70.5", json, StringComparison.Ordinal);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAWrittenHour_WhenANewSampleUpdatesIt_ThenItsProvenanceTargetsTheNewVersionWhichHoldsTheSample()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);
        await persister.PersistAsync([HeartRate("2026-11-24T09:00:01Z", "71")], default);
        var first = await ReadAsync(client, ids, "heartrate", "2026-11-24T09:00:00Z");

        var update = await persister.PersistAsync([HeartRate("2026-11-24T09:00:03Z", "73")], default);

        var second = await ReadAsync(client, ids, "heartrate", "2026-11-24T09:00:00Z");
        Assert.Equal((0, 1, 1), (update.Created, update.Updated, update.ProvenanceWritten));
        Assert.NotEqual(first.Meta!.VersionId, second.Meta!.VersionId);
        var provenances = await ProvenancesOfAsync(client, first.Id!);
        Assert.Equal(2, provenances.Count);
        var create = Assert.Single(provenances, p => p.Activity!.Coding[0].Code == "CREATE");
        var revise = Assert.Single(provenances, p => p.Activity!.Coding[0].Code == "UPDATE");
        Assert.Equal(Versioned(first), Assert.Single(create.Target).Reference);
        Assert.Equal(Versioned(second), Assert.Single(revise.Target).Reference);
        Assert.Equal(Build.Utc("2026-11-24T09:00:03Z"), Assert.IsType<Period>(revise.Occurred).StartElement!.ToDateTimeOffset(TimeSpan.Zero).UtcDateTime);

        // The version the Provenance names is the one with the new sample, and the first version stays as it was.
        var named = Assert.IsType<Observation>((await client.GetBatchAsync([Assert.Single(revise.Target).Reference!], default))[0]!.Resource);
        var old = Assert.IsType<Observation>((await client.GetBatchAsync([Assert.Single(create.Target).Reference!], default))[0]!.Resource);
        Assert.StartsWith("E 71 E 73", ((SampledData)named.Value!).Data);
        Assert.StartsWith("E 71 E E", ((SampledData)old.Value!).Data);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenABundleThatCreatesAndUpdates_WhenPersisted_ThenItGetsOneProvenancePerActivityInOneRequest()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);
        await persister.PersistAsync([HeartRate("2026-11-24T10:00:01Z", "71")], default);
        var requests = client.RequestCount;

        var result = await persister.PersistAsync([HeartRate("2026-11-24T10:00:02Z", "72"), HeartRate("2026-11-24T11:00:02Z", "82")], default);

        Assert.Equal((1, 1, 2), (result.Created, result.Updated, result.ProvenanceWritten));
        // One write bundle (the first hour is cached, the second is read once), the created one's history (a create
        // another writer made may have been replaced) and one Provenance bundle.
        Assert.Equal(4, client.RequestCount - requests);
        var updated = await ReadAsync(client, ids, "heartrate", "2026-11-24T10:00:00Z");
        var created = await ReadAsync(client, ids, "heartrate", "2026-11-24T11:00:00Z");
        Assert.Equal(Versioned(updated), Assert.Single(Assert.Single(await ProvenancesOfAsync(client, updated.Id!), p => p.Activity!.Coding[0].Code == "UPDATE").Target).Reference);
        Assert.Equal(Versioned(created), Assert.Single(Assert.Single(await ProvenancesOfAsync(client, created.Id!)).Target).Reference);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenProvenanceSwitchedOff_WhenPersisted_ThenTheObservationIsWrittenWithoutProvenance()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client, options: new PersistenceOptions { Provenance = false });

        var result = await persister.PersistAsync([HeartRate("2026-11-24T12:00:01Z", "71")], default);

        Assert.Equal((1, 0, 0), (result.Created, result.ProvenanceWritten, result.ProvenanceFailed));
        var observation = await ReadAsync(client, ids, "heartrate", "2026-11-24T12:00:00Z");
        Assert.Empty(await ProvenancesOfAsync(client, observation.Id!));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAReplayedBatch_WhenPersisted_ThenNoObservationIsWrittenAndItsProvenanceIsRewrittenNotDoubled()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        Measurement[] batch = [HeartRate("2026-11-24T13:00:01Z", "71")];
        using (var writer = FhirServerFixture.Persister(client))
        {
            await writer.PersistAsync(batch, default);
        }

        using var fresh = FhirServerFixture.Persister(client);
        var replay = await fresh.PersistAsync(batch, default);

        // The replay cannot know whether the first run's Provenance was written (it may have stopped in between), so it
        // writes it again: the same activity and version give the same id, so it replaces that one.
        Assert.Equal((0, 1, 1), (replay.Created + replay.Updated, replay.Unchanged, replay.ProvenanceWritten));
        Assert.Single(await ProvenancesOfAsync(client, (await ReadAsync(client, ids, "heartrate", "2026-11-24T13:00:00Z")).Id!));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async System.Threading.Tasks.Task GivenAServerThatRefusesProvenance_WhenPersisted_ThenTheObservationsAreWrittenAndTheFailureIsCounted(bool wholeBundle)
    {
        var faults = new FaultInjectingHandler();
        if (wholeBundle)
        {
            faults.RefuseOn = "\"resourceType\":\"Provenance\"";
        }
        else
        {
            faults.FailEntriesWith = "\"resourceType\":\"Provenance\"";
        }

        var client = fixture.Client(faults);
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);

        var result = await persister.PersistAsync([HeartRate("2026-11-24T14:00:01Z", "71"), Weight("2026-11-24T14:00:01Z", "70.5")], default);

        Assert.Equal((2, 0, 0, 1), (result.Created, result.Errors.Count, result.ProvenanceWritten, result.ProvenanceFailed));
        var observation = await ReadAsync(client, ids, "heartrate", "2026-11-24T14:00:00Z");
        Assert.StartsWith("E 71 E", ((SampledData)observation.Value!).Data);
        Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&code=http://loinc.org|29463-7", default));
        Assert.Empty(await ProvenancesOfAsync(client, observation.Id!));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenABatchWhoseOneEntryTheServerRefuses_WhenPersisted_ThenTheProvenanceTargetsOnlyTheWrittenOne()
    {
        var faults = new FaultInjectingHandler { FailEntriesWith = "29463-7" };
        var client = fixture.Client(faults);
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client);

        var result = await persister.PersistAsync([HeartRate("2026-11-24T15:00:01Z", "71"), Weight("2026-11-24T15:00:01Z", "70.5")], default);

        Assert.Equal((1, FhirErrorCodes.FhirResourceRejected, 1), (result.Created, Assert.Single(result.Errors).Code, result.ProvenanceWritten));
        var observation = await ReadAsync(client, ids, "heartrate", "2026-11-24T15:00:00Z");
        Assert.Equal(Versioned(observation), Assert.Single(Assert.Single(await ProvenancesOfAsync(client, observation.Id!)).Target).Reference);
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAWriterAgentDeviceReference_WhenPersisted_ThenTheProvenanceNamesThatDevice()
    {
        var client = fixture.Client();
        var ids = await FhirServerFixture.RegisterAsync(client, device);
        using var persister = FhirServerFixture.Persister(client, options: new PersistenceOptions { ProvenanceAgent = "Device/writer-1" });

        await persister.PersistAsync([HeartRate("2026-11-24T16:00:01Z", "71")], default);

        var provenance = Assert.Single(await ProvenancesOfAsync(client, (await ReadAsync(client, ids, "heartrate", "2026-11-24T16:00:00Z")).Id!));
        Assert.Equal("Device/writer-1", Assert.Single(provenance.Agent).Who!.Reference);
        Assert.Empty(provenance.Entity);
    }

    [Fact]
    public void GivenHubMessageIds_WhenNamed_ThenConsecutiveOffsetsOfAPartitionBecomeOneRangeAndEverythingElseStaysAsItIs()
    {
        string[] ids = ["t/1/9", "t/0/5", "t/0/3", "t/0/4", "t/0/4", "t/0/7", "t/1/10", "sha256:ab", "t/0/007", "t/0/-1", "t/0/99999999999999999999", "x", "t/1/" + long.MaxValue];

        Assert.Equal(["t/0/3-5", "t/0/7", $"t/1/9-10", $"t/1/{long.MaxValue}", "sha256:ab", "t/0/-1", "t/0/007", "t/0/99999999999999999999", "x"], ObservationProvenance.Ranges(ids));
    }

    [Theory]
    [InlineData("", false)]
    [InlineData("Device/", false)]
    [InlineData("Device/has space", false)]
    [InlineData("Device/ok\n", false)]
    [InlineData("writer\u0000", false)]
    [InlineData("Device/writer-1.a", true)]
    [InlineData("writer-eu-1", true)]
    public void GivenAProvenanceAgent_WhenValidated_ThenOnlyADeviceReferenceOrAPlainIdentifierPasses(string agent, bool valid)
    {
        var errors = new PersistenceOptions { ProvenanceAgent = agent }.Validate();

        Assert.Equal(valid, errors.Count == 0);
    }

    [Fact]
    public void GivenAMegabyteAgent_WhenValidated_ThenItIsRefused() =>
        Assert.Contains(new PersistenceOptions { ProvenanceAgent = new string('a', 1 << 20) }.Validate(), e => e.Contains("ProvenanceAgent", StringComparison.Ordinal));

    private static string Versioned(Observation observation) => $"Observation/{observation.Id}/_history/{observation.Meta!.VersionId}";

    /// <summary>Every Provenance one of whose targets is a version of the Observation (read back from the server).</summary>
    private static async Task<List<Provenance>> ProvenancesOfAsync(FhirServerClient client, string observationId) =>
        (await client.SearchAsync<Provenance>("Provenance?_count=1000", default))
            .Where(p => p.Target.Any(t => t.Reference!.StartsWith($"Observation/{observationId}/", StringComparison.Ordinal) || t.Reference == $"Observation/{observationId}"))
            .ToList();

    private Measurement HeartRate(string time, string value) => Measurement("heartrate", time, ("hr", value));

    private Measurement Weight(string time, string value) => Measurement("weight", time, ("kg", value));

    private Measurement Measurement(string type, string time, params (string, string)[] properties) =>
        Build.Measurement(type, time, properties) with { DeviceId = device, IngestionTimeUtc = DateTime.UtcNow };

    private static async Task<Observation> ReadAsync(FhirServerClient client, ResourceIds ids, string type, string hour)
    {
        var start = Build.Utc(hour);
        var group = new ObservationGroup(type, start, start.AddHours(1).AddTicks(-1), $"{start:yyyyMMddHH}0000Z.{start:yyyyMMddHH}5959Z", new Dictionary<string, IReadOnlyList<TimedValue>>());
        return Assert.Single(await client.SearchAsync<Observation>($"Observation?_id={ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(ids, group))}", default));
    }
}
