using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests;

/// <summary>
/// Hostile review of issue 20, final round (commit d619f01): the history merge after conflicts and creates, the
/// Provenance rewritten for unchanged versions, and Create mode's PUT at the hashed id after a 400, through the real
/// FHIR test server.
/// </summary>
[Collection(FhirServerGroup.Name)]
public class HostileFinalReviewTests(FhirServerFixture fixture)
{
    private readonly string device = "final-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task GivenCreateModeAndThePatientsHashedIdHeldByAnotherPatient_WhenAMessageNamesANewPatient_ThenTheOtherPatientIsNotOverwritten()
    {
        // Patient/{hash of mrn-new} already exists and is someone else (registration corrected the identifier of a
        // Patient the gateway made, or another system uses the same id scheme). The exact search finds no mrn-new, the
        // conditional create with that id answers 400 "Assigned ID is already in use", and the writer then PUTs.
        var client = fixture.Client();
        var mrn = "mrn-new-" + device;
        var hashed = IdentityResolver.DeterministicIds(device, mrn, null, null).PatientId;
        await client.PutAsync(new Patient { Id = hashed, Identifier = [new Identifier(null, "mrn-other-" + device)] }, null, default);
        using var writer = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });

        string? charted = null;
        try
        {
            charted = (await writer.ResolveAsync(new MeasurementGroupKey(device, mrn, null, null, "heartrate"), default)).PatientId;
        }
        catch (TransformException)
        {
            // Refusing is right too; overwriting the other patient is not.
        }
        catch (FhirRequestException)
        {
        }

        var other = Assert.Single(await client.SearchAsync<Patient>($"Patient?_id={hashed}", default));
        Assert.Equal(["mrn-other-" + device], other.Identifier.Select(i => i.Value));
        Assert.NotEqual(hashed, charted);
    }

    [Fact]
    public async Task GivenCreateModeAndTheDevicesHashedIdHeldByAnotherDevice_WhenANewMonitorReports_ThenTheOtherDeviceKeepsItsPatient()
    {
        var client = fixture.Client();
        var monitor = device + "-new";
        var hashed = IdentityResolver.DeterministicIds(monitor, "x", null, null).DeviceId;
        var otherPatient = await client.PutAsync(new Patient { Id = "p-" + device, Identifier = [new Identifier(null, "mrn-a-" + device)] }, null, default);
        await client.PutAsync(new Device
        {
            Id = hashed,
            Identifier = [new Identifier(null, device + "-other")],
            Patient = new ResourceReference($"Patient/{otherPatient.Id}"),
        }, null, default);
        using var writer = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });

        try
        {
            await writer.ResolveAsync(new MeasurementGroupKey(monitor, "mrn-b-" + device, null, null, "heartrate"), default);
        }
        catch (TransformException)
        {
        }
        catch (FhirRequestException)
        {
        }

        var other = Assert.Single(await client.SearchAsync<Device>($"Device?_id={hashed}", default));
        Assert.Equal([device + "-other"], other.Identifier.Select(i => i.Value));
        Assert.Equal($"Patient/{otherPatient.Id}", other.Patient?.Reference);
    }

    [Fact]
    public async Task GivenAClinicianRemovedAnArtifactSample_WhenTheWritersNextSampleConflictsWithThatAmendment_ThenTheArtifactStaysRemoved()
    {
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        using var writer = FhirServerFixture.Persister(fixture.Client());
        await writer.PersistAsync([HeartRate("2026-11-24T08:00:01Z", "250")], default);

        // The clinician marks the artifact as no value ("E"); the writer still holds the version it wrote.
        var client = fixture.Client();
        var observation = Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&device=Device/{ids.DeviceId}", default));
        var data = (SampledData)observation.Value!;
        data.Data = data.Data!.Replace("250", "E", StringComparison.Ordinal);
        observation.Status = ObservationStatus.Amended;
        await client.PutAsync(observation, $"W/\"{observation.Meta!.VersionId}\"", default);

        // Its update (If-Match the version it wrote) answers 412: the conflict path merges the recent history.
        var result = await writer.PersistAsync([HeartRate("2026-11-24T08:00:02Z", "72")], default);

        Assert.Empty(result.Errors);
        Assert.Equal(["72"], (await ChartedValues.ReadAsync(client, ids.PatientId, ids.DeviceId)).Values);
    }

    [Fact]
    public async Task GivenADuplicateOfOneMeasurementInALaterHubMessage_WhenItFindsTheVersionUnchanged_ThenTheOriginalProvenanceKeepsItsSources()
    {
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        using var writer = FhirServerFixture.Persister(fixture.Client());
        Measurement a = HeartRate("2026-11-24T08:00:01Z", "71"), b = HeartRate("2026-11-24T08:00:02Z", "72");
        await writer.PersistAsync([a, b], m => new(m == a ? "hub/0/10" : "hub/0/11"), default);

        // The gateway sent the first measurement again (at-least-once from the edge): a new hub message, same content.
        using var replay = FhirServerFixture.Persister(fixture.Client());
        await replay.PersistAsync([a], m => new("hub/0/99"), default);

        var client = fixture.Client();
        var observation = Assert.Single(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&device=Device/{ids.DeviceId}", default));
        var version = $"Observation/{observation.Id}/_history/{observation.Meta!.VersionId}";
        var provenances = (await client.SearchAsync<Provenance>("Provenance?_count=1000", default)).Where(p => p.Target.Any(t => t.Reference == version)).ToList();
        Assert.Contains(provenances, p => p.Entity.Any(e => e.What?.Identifier?.Value == "hub/0/10-11"));
    }

    [Fact]
    public async Task GivenTwoWritersCreatingAWaveformObservationWithComponents_WhenTheLaterCreateLacksAComponent_ThenThatComponentsSamplesAreNotLost()
    {
        // Arterial pressure as SampledData components; the old owner's measurement carries systolic only.
        const string Mapping = """
            {"templateType": "CollectionFhir", "template": [
              {"templateType": "CodeValueFhir", "template": {"typeName": "art", "periodInterval": 60,
                "codes": [{"code": "150032", "system": "urn:iso:std:iso:11073:10101", "display": "MDC_PRESS_BLD_ART"}],
                "components": [
                  {"codes": [{"code": "8480-6", "system": "http://loinc.org"}], "value": {"valueName": "sys", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "mm[Hg]"}},
                  {"codes": [{"code": "8462-4", "system": "http://loinc.org"}], "value": {"valueName": "dia", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "mm[Hg]"}}]}}
            ]}
            """;
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        using var gate = new HoldFirstWrite();
        using var old = Persister(Client(gate), Mapping);
        using var next = Persister(fixture.Client(), Mapping);

        var inFlight = old.PersistAsync([Build.Measurement("art", "2026-11-24T08:00:01Z", ("sys", "120")) with { DeviceId = device, PatientId = null }], default);
        await gate.Held.Task.WaitAsync(TimeSpan.FromMinutes(1));
        var second = await next.PersistAsync([Build.Measurement("art", "2026-11-24T08:00:02Z", ("sys", "121"), ("dia", "80")) with { DeviceId = device, PatientId = null }], default);
        gate.Release.SetResult();
        var first = await inFlight;

        Assert.Equal((0, 0), (first.Errors.Count, second.Errors.Count));
        var observation = Assert.Single(await fixture.Client().SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&device=Device/{ids.DeviceId}", default));
        var charted = observation.Component
            .Select(c => (Code: c.Code.Coding.First(x => x.System == MedTech.Edge.Transform.Observations.ObservationIdentity.System).Code ?? "", Values: string.Join(' ', ((SampledData)c.Value!).Data!.Split(' ').Where(x => x != "E"))))
            .OrderBy(c => c.Code, StringComparer.Ordinal).ToList();
        Assert.Equal([("dia", "80"), ("sys", "120 121")], charted);
    }

    [Fact]
    public async Task GivenTwoWritersCreatingOneObservationWhoseMergedSamplesExceedTheValueLimit_WhenTheReplacedCreateIsReconciled_ThenTheDroppedSampleIsChartedOrDeadLettered()
    {
        // Each create fits MaxValueLength alone; both samples together do not. The reconcile's merge then throws
        // ObservationTooLarge, which it swallows (logged), keeping the newest version: the other writer's sample is gone
        // and no dead letter says so.
        const string Long = "1.0000000000000000000000000000000000000001", Other = "2.0000000000000000000000000000000000000002";
        var ids = await FhirServerFixture.RegisterAsync(fixture.Client(), device);
        // An hourly window at 1 s is 3600 slots ("E E ... E", 7199 characters); one 42-character sample adds 41.
        var options = new PersistenceOptions { MaxValueLength = 7260 };
        using var gate = new HoldFirstWrite();
        using var old = FhirServerFixture.Persister(Client(gate), options: options);
        using var next = FhirServerFixture.Persister(fixture.Client(), options: options);

        var inFlight = old.PersistAsync([HeartRate("2026-11-24T08:00:01Z", Long)], default);
        Assert.Same(gate.Held.Task, await Task.WhenAny(gate.Held.Task, inFlight));
        var second = await next.PersistAsync([HeartRate("2026-11-24T08:00:02Z", Other)], default);
        gate.Release.SetResult();
        var first = await inFlight;

        var charted = (await ChartedValues.ReadAsync(fixture.Client(), ids.PatientId, ids.DeviceId)).Values.ToList();
        var deadLettered = first.Errors.Concat(second.Errors).Where(e => e.Code == FhirErrorCodes.ObservationTooLarge).ToList();
        Assert.True(charted.Contains(Other) || deadLettered.Count > 0, $"charted {charted.Count} sample(s), {deadLettered.Count} ObservationTooLarge error(s)");
    }

    private static ObservationPersister Persister(FhirServerClient client, string mapping) => new(
        client,
        new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Lookup" }),
        FhirMapping.Parse(mapping).EnsureValid("test mapping"),
        new PersistenceOptions(),
        NullLogger<ObservationPersister>.Instance);

    private FhirServerClient Client(HoldFirstWrite gate)
    {
        var options = new FhirServerOptions { Url = fixture.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        gate.InnerHandler = new SocketsHttpHandler();
        return new FhirServerClient(new HttpClient(gate) { BaseAddress = fixture.Server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
    }

    private Measurement HeartRate(string time, string value) => Build.Measurement("heartrate", time, ("hr", value)) with { DeviceId = device, PatientId = null };


    /// <summary>Holds the first Observation write bundle until released (a create on the wire across a rebalance).</summary>
    private sealed class HoldFirstWrite : DelegatingHandler
    {
        private int seen;

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            if (request.Method == HttpMethod.Post && body.Contains("\"PUT\"", StringComparison.Ordinal) && body.Contains("\"Observation/", StringComparison.Ordinal)
                && Interlocked.Increment(ref seen) == 1)
            {
                Held.SetResult();
                await Release.Task.WaitAsync(cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
