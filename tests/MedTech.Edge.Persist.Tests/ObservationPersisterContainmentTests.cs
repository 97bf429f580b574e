using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist.Tests;

/// <summary>
/// One hostile group in a batch fails alone, with its own reason, and a good group of another device in the same
/// batch becomes an Observation on the real FHIR server.
/// </summary>
[Collection(FhirServerGroup.Name)]
public class ObservationPersisterContainmentTests(FhirServerFixture fixture)
{
    private readonly string good = "monitor-" + Guid.NewGuid().ToString("N")[..12];
    private readonly string bad = "poison-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async System.Threading.Tasks.Task GivenACorrelationGroupSpanningYears_WhenPersisted_ThenItIsTooLargeAndTheOtherDeviceIsWritten()
    {
        var client = fixture.Client();
        var ids = await RegisterBothAsync(client);
        using var persister = FhirServerFixture.Persister(client);

        // upstream would build a 190 MB data string of one slot per second over three years.
        var result = await persister.PersistAsync([Ecg(bad, "2020-01-01T00:00:00Z"), Ecg(bad, "2023-01-01T00:00:00Z"), HeartRate(good, "2026-11-24T08:00:00Z", "61")], default);

        Assert.Equal((1, FhirErrorCodes.ObservationTooLarge, bad), (result.Created, Assert.Single(result.Errors).Code, result.Errors[0].Group.Key.DeviceId));
        Assert.StartsWith("61 ", await HeartRateDataAsync(client, ids, "2026-11-24T08:00:00Z"));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenHourlyDataInTheLastHourOfTheCalendar_WhenPersisted_ThenItIsIncompatibleDataAndTheOtherDeviceIsWritten()
    {
        var client = fixture.Client();
        var ids = await RegisterBothAsync(client);
        using var persister = FhirServerFixture.Persister(client);

        var result = await persister.PersistAsync([HeartRate(bad, "9999-12-31T23:59:59Z", "70"), HeartRate(good, "2026-11-24T09:00:00Z", "62")], default);

        Assert.Equal((1, FhirErrorCodes.IncompatibleData, bad), (result.Created, Assert.Single(result.Errors).Code, result.Errors[0].Group.Key.DeviceId));
        Assert.StartsWith("62 ", await HeartRateDataAsync(client, ids, "2026-11-24T09:00:00Z"));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAnEntryTheServerRejects_WhenPersisted_ThenItsGroupFailsWithTheStatusAndAPhiFreeSummary()
    {
        var faults = new FaultInjectingHandler { FailEntriesWith = bad, EntryStatus = 422 };
        var client = fixture.Client(faults);
        var ids = await RegisterBothAsync(client);
        using var persister = FhirServerFixture.Persister(client);

        var result = await persister.PersistAsync([HeartRate(bad, "2026-11-24T10:00:00Z", "70"), HeartRate(good, "2026-11-24T10:00:00Z", "63")], default);

        var error = Assert.Single(result.Errors);
        Assert.Equal((FhirErrorCodes.FhirResourceRejected, bad), (error.Code, error.Group.Key.DeviceId));
        Assert.Contains("HTTP 422", error.Message, StringComparison.Ordinal);
        Assert.Contains("error/invalid at Observation.valueSampledData.data", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("mrn-4711", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("63 ", await HeartRateDataAsync(client, ids, "2026-11-24T10:00:00Z"));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenAnEntryThatFailsWith503InEveryRoundWhileOthersAreWritten_WhenPersisted_ThenItFailsAloneAfterTheRetryBudget()
    {
        var faults = new FaultInjectingHandler { FailEntriesWith = bad, EntryStatus = 503 };
        var client = fixture.Client(faults);
        var ids = await RegisterBothAsync(client);
        using var persister = FhirServerFixture.Persister(client, options: new PersistenceOptions { MaxWriteRounds = 3 });

        var result = await persister.PersistAsync([HeartRate(bad, "2026-11-24T11:00:00Z", "70"), HeartRate(good, "2026-11-24T11:00:00Z", "64")], default);

        var error = Assert.Single(result.Errors);
        Assert.Equal((FhirErrorCodes.FhirResourceRejected, bad), (error.Code, error.Group.Key.DeviceId));
        Assert.Contains("HTTP 503", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, faults.EntryFaults);
        Assert.StartsWith("64 ", await HeartRateDataAsync(client, ids, "2026-11-24T11:00:00Z"));
    }

    [Fact]
    public async System.Threading.Tasks.Task GivenEveryEntryFailingWith503_WhenPersisted_ThenItIsAnOutageThatLosesNothingAndTheRetryAfterwardsWrites()
    {
        var faults = new FaultInjectingHandler { FailEntriesWith = bad, EntryStatus = 503 };
        var client = fixture.Client(faults);
        var ids = await RegisterBothAsync(client);
        using var persister = FhirServerFixture.Persister(client, options: new PersistenceOptions { MaxWriteRounds = 2 });

        // Nothing of the batch was written: the server is in trouble, so the batch is kept (the writer retries it for ever).
        await Assert.ThrowsAsync<FhirServerUnavailableException>(() => persister.PersistAsync([HeartRate(bad, "2026-11-24T12:00:00Z", "70")], default));
        Assert.Equal(2, faults.EntryFaults);

        faults.FailEntriesWith = null;
        var retried = await persister.PersistAsync([HeartRate(bad, "2026-11-24T12:00:00Z", "70")], default);
        Assert.Equal((1, 0), (retried.Created, retried.Errors.Count));
        Assert.StartsWith("70 ", await HeartRateDataAsync(client, ids.Bad, "2026-11-24T12:00:00Z"));
    }

    private async Task<(ResourceIds Good, ResourceIds Bad)> RegisterBothAsync(FhirServerClient client) =>
        (await FhirServerFixture.RegisterAsync(client, good), await FhirServerFixture.RegisterAsync(client, bad));

    private static Measurement HeartRate(string device, string time, string value) =>
        Build.Measurement("heartrate", time, ("hr", value)) with { DeviceId = device };

    private static Measurement Ecg(string device, string time) =>
        Build.Measurement("ecg", time, ("mv", "0.5")) with { DeviceId = device, CorrelationId = "strip-1" };

    private static Task<string> HeartRateDataAsync(FhirServerClient client, (ResourceIds Good, ResourceIds Bad) ids, string hour) => HeartRateDataAsync(client, ids.Good, hour);

    private static async Task<string> HeartRateDataAsync(FhirServerClient client, ResourceIds ids, string hour)
    {
        var start = Build.Utc(hour);
        var group = new ObservationGroup("heartrate", start, start.AddHours(1).AddTicks(-1), $"{start:yyyyMMddHH}0000Z.{start:yyyyMMddHH}5959Z", new Dictionary<string, IReadOnlyList<TimedValue>>());
        var id = ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(ids, group));
        return ((SampledData)Assert.Single(await client.SearchAsync<Observation>($"Observation?_id={id}", default)).Value!).Data ?? "";
    }
}
