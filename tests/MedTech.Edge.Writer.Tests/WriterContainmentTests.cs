using System.Text;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>One real FHIR server for the containment tests; each test uses devices of its own.</summary>
public sealed class WriterFhirServer : IAsyncLifetime
{
    internal FhirTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await FhirTestServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The writer never stalls on one group, through the real FHIR server (with a fault-injecting proxy in front of it
/// where the server has to refuse or a bug has to strike): each hostile group of a batch is a dead letter with its
/// reason code and its own bytes, and a good group of another device in the same batch becomes an Observation.
/// </summary>
public sealed class WriterContainmentTests(WriterFhirServer fhir) : IClassFixture<WriterFhirServer>, IDisposable
{
    private const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartrate", "periodInterval": 60,
            "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
            "value": {"valueName": "hr", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "count/min"}}},
          {"templateType": "CodeValueFhir", "template": {"typeName": "ecg", "periodInterval": -1,
            "codes": [{"code": "131328", "system": "urn:oid:2.16.840.1.113883.6.24", "display": "ECG"}],
            "value": {"valueName": "mv", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "mV"}}}
        ]}
        """;

    private readonly string run = Guid.NewGuid().ToString("N")[..10];
    private readonly List<IDisposable> disposables = [];
    private readonly FaultInjectingHandler faults = new() { InnerHandler = new SocketsHttpHandler() };
    private FhirServerClient? client;

    private string Bad => "poison-" + run;

    private string Good(int n) => $"monitor-{n}-{run}";

    public void Dispose()
    {
        foreach (var disposable in disposables)
        {
            disposable.Dispose();
        }

        faults.Dispose();
    }

    [Fact]
    public async Task GivenHubMessagesThatAreJsonButNotGroupsOrHoldNulls_WhenWritten_ThenEachIsAnInvalidHubMessageAndTheGoodGroupIsWritten()
    {
        var writer = await WriterAsync();
        string[] hostile =
        [
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("\"Properties\":[{\"Name\":\"hr\",\"Value\":\"70\"}]", "\"Properties\":null", StringComparison.Ordinal),
            """{"id":"g","measurements":[null]}""",
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("\"Type\":\"heartrate\"", "\"Type\":null", StringComparison.Ordinal),
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("2026-11-24T08:00:00Z", "yesterday", StringComparison.Ordinal),
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("2026-11-24T08:00:00Z", "0000-01-01T00:00:00Z", StringComparison.Ordinal),
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("[{\"Name\":\"hr\",\"Value\":\"70\"}]", "[null]", StringComparison.Ordinal),
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("\"Name\":\"hr\"", "\"Name\":null", StringComparison.Ordinal),
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("\"Value\":\"70\"", "\"Value\":null", StringComparison.Ordinal),
            Group(Bad, "2026-11-24T08:00:00Z", "70").Replace("\"Value\":\"70\"", "\"Value\":70", StringComparison.Ordinal),
            Group(new string('d', 300_000), "2026-11-24T08:00:00Z", "70"),
            Group("", "2026-11-24T08:00:00Z", "70"),
            """{"id":"g","measurements":[]}""",
            """{"id":"g","measurements":{}}""",
            """{"id":7,"measurements":[]}""",
            "null",
            "\"a string\"",
            "{}",
            new string('[', 10_000) + new string(']', 10_000),
            "\0\0\0",
        ];
        var messages = hostile.Select(h => (Bad, Encoding.UTF8.GetBytes(h))).Append((Good(1), Encoding.UTF8.GetBytes(Group(Good(1), "2026-11-24T08:00:00Z", "61")))).ToList();

        var deadLetters = await writer.WriteAsync(messages, default);

        Assert.Equal(hostile, deadLetters.Select(d => Encoding.UTF8.GetString(d.Payload)));
        Assert.All(deadLetters, d => Assert.Equal(WriterErrorCodes.InvalidHubMessage, d.Code));
        Assert.All(deadLetters, d => Assert.InRange(d.Reason.Length, 1, 1000));
        Assert.StartsWith("61 ", await HeartRateDataAsync(Good(1), "2026-11-24T08:00:00Z"));
    }

    [Fact]
    public async Task GivenGroupsThatCannotBecomeObservations_WhenWrittenInOneBatch_ThenEachFailsWithItsOwnCodeAndTheGoodGroupIsWritten()
    {
        var writer = await WriterAsync();
        var tooLarge = Packed(Group(Bad, "2020-01-01T00:00:00Z", "0.5", "ecg", "strip-1"), Group(Bad, "2023-01-01T00:00:00Z", "0.6", "ecg", "strip-1"));
        var endOfCalendar = Group(Bad, "9999-12-31T23:59:59Z", "70");
        var good = Group(Good(1), "2026-11-24T09:00:00Z", "62");

        var deadLetters = await writer.WriteAsync([(Bad, tooLarge), (Bad, Encoding.UTF8.GetBytes(endOfCalendar)), (Good(1), Encoding.UTF8.GetBytes(good))], default);

        // The ECG strip's two groups share a key: the Observation they would make together is the one too large.
        Assert.Equal(
            [(FhirErrorCodes.IncompatibleData, endOfCalendar), (FhirErrorCodes.ObservationTooLarge, Group(Bad, "2020-01-01T00:00:00Z", "0.5", "ecg", "strip-1")), (FhirErrorCodes.ObservationTooLarge, Group(Bad, "2023-01-01T00:00:00Z", "0.6", "ecg", "strip-1"))],
            deadLetters.Select(d => (d.Code, Encoding.UTF8.GetString(d.Payload))).OrderBy(d => d.Code, StringComparer.Ordinal).ThenBy(d => d.Item2, StringComparer.Ordinal));
        Assert.StartsWith("62 ", await HeartRateDataAsync(Good(1), "2026-11-24T09:00:00Z"));
    }

    [Fact]
    public async Task GivenHourlyDataInTheFirstHourOfTheCalendar_WhenWritten_ThenItIsWrittenAsAnyOtherHour()
    {
        var writer = await WriterAsync();

        var deadLetters = await writer.WriteAsync([(Bad, Bytes(Bad, "00:00", "70")), (Good(1), Encoding.UTF8.GetBytes(Group(Good(1), "0001-01-01T00:00:00Z", "61")))], default);

        Assert.Empty(deadLetters.Select(d => d.Code + ": " + d.Reason));
        Assert.StartsWith("61 ", await HeartRateDataAsync(Good(1), "0001-01-01T00:00:00Z"));
    }

    /// <summary>
    /// A bug in the identity search fails the group in hand (the transform contains it); one in writing the bundle
    /// fails the whole batch, which is halved until the group that causes it is alone.
    /// </summary>
    [Theory]
    [InlineData("", "transform")]
    [InlineData("d-", "persist")]
    public async Task GivenABugThatStrikesOnOneGroup_WhenItsBatchIsWritten_ThenThatGroupAloneIsAProcessingErrorAndTheOthersAreWritten(string marker, string stage)
    {
        var writer = await WriterAsync();
        faults.ThrowOn = marker + Bad;
        var bad = Group(Bad, "2026-11-24T10:00:00Z", "70");

        var deadLetters = await writer.WriteAsync(
            [(Good(1), Bytes(Good(1), "10:00", "61")), (Bad, Encoding.UTF8.GetBytes(bad)), (Good(2), Bytes(Good(2), "10:00", "62")), (Good(3), Bytes(Good(3), "10:00", "63"))], default);

        var deadLetter = Assert.Single(deadLetters);
        Assert.Equal((FhirErrorCodes.ProcessingError, bad, Bad), (deadLetter.Code, Encoding.UTF8.GetString(deadLetter.Payload), deadLetter.Key));
        Assert.Equal($"{stage}: InvalidOperationException: An injected bug.", deadLetter.Reason);
        Assert.Equal(["61 ", "62 ", "63 "], [(await HeartRateDataAsync(Good(1), "2026-11-24T10:00:00Z"))[..3], (await HeartRateDataAsync(Good(2), "2026-11-24T10:00:00Z"))[..3], (await HeartRateDataAsync(Good(3), "2026-11-24T10:00:00Z"))[..3]]);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(413)]
    public async Task GivenAServerThatRefusesEveryWriteBundleHoldingOneGroup_WhenItsBatchIsWritten_ThenThatGroupAloneIsRejectedWithAPhiFreeReason(int status)
    {
        var writer = await WriterAsync();
        faults.RefuseOn = "d-" + Bad;
        faults.RefuseStatus = (System.Net.HttpStatusCode)status;
        var bad = Group(Bad, "2026-11-24T11:00:00Z", "70");

        var deadLetters = await writer.WriteAsync(
            [(Good(1), Bytes(Good(1), "11:00", "61")), (Good(2), Bytes(Good(2), "11:00", "62")), (Bad, Encoding.UTF8.GetBytes(bad))], default);

        var deadLetter = Assert.Single(deadLetters);
        Assert.Equal((FhirErrorCodes.FhirResourceRejected, bad), (deadLetter.Code, Encoding.UTF8.GetString(deadLetter.Payload)));
        Assert.Contains($"HTTP {status}", deadLetter.Reason, StringComparison.Ordinal);
        Assert.Contains("error/too-costly", deadLetter.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("mrn-4711", deadLetter.Reason, StringComparison.Ordinal);
        Assert.StartsWith("61 ", await HeartRateDataAsync(Good(1), "2026-11-24T11:00:00Z"));
        Assert.StartsWith("62 ", await HeartRateDataAsync(Good(2), "2026-11-24T11:00:00Z"));
    }

    [Fact]
    public async Task GivenAServerThatRejectsOneEntry_WhenItsBatchIsWritten_ThenThatGroupIsADeadLetterWithItsOwnBytesAndTheStatus()
    {
        var writer = await WriterAsync();
        faults.FailEntriesWith = "d-" + Bad;
        faults.EntryStatus = 422;
        var bad = Group(Bad, "2026-11-24T12:00:00Z", "70");

        var deadLetters = await writer.WriteAsync([(Bad, Encoding.UTF8.GetBytes(bad)), (Good(1), Bytes(Good(1), "12:00", "61"))], default);

        var deadLetter = Assert.Single(deadLetters);
        Assert.Equal((FhirErrorCodes.FhirResourceRejected, bad, Bad), (deadLetter.Code, Encoding.UTF8.GetString(deadLetter.Payload), deadLetter.Key));
        Assert.Contains("HTTP 422: 1 issue(s): error/invalid at Observation.valueSampledData.data", deadLetter.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("mrn-4711", deadLetter.Reason, StringComparison.Ordinal);
        Assert.StartsWith("61 ", await HeartRateDataAsync(Good(1), "2026-11-24T12:00:00Z"));
    }

    /// <summary>A writer in Lookup mode whose requests pass the fault-injecting proxy; the test's devices are registered.</summary>
    private async Task<MeasurementWriter> WriterAsync()
    {
        var options = new FhirServerOptions { Url = fhir.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        client = new FhirServerClient(new HttpClient(faults, disposeHandler: false) { BaseAddress = fhir.Server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
        foreach (var device in new[] { Bad, Good(1), Good(2), Good(3) })
        {
            var patient = await client.PutAsync(new Patient { Id = "p-" + device }, null, default);
            await client.PutAsync(new Device { Id = "d-" + device, Identifier = [new Identifier(null, device)], Patient = new ResourceReference($"Patient/{patient.Id}") }, null, default);
        }

        var identity = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Lookup" });
        var persister = new ObservationPersister(client, identity, FhirMapping.Parse(Mapping).EnsureValid("test mapping"), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        var metrics = new WriterMetrics(client);
        disposables.AddRange([identity, persister, metrics]);
        return new MeasurementWriter(persister, metrics, new ModuleHealth(), Options.Create(new WriterOptions { MaxBackoff = TimeSpan.FromMilliseconds(200) }), NullLogger<MeasurementWriter>.Instance);
    }

    private static string Group(string device, string time, string value, string type = "heartrate", string? correlation = null) =>
        $$"""{"id":"g","measurements":[{"Type":"{{type}}","OccurrenceTimeUtc":"{{time}}","IngestionTimeUtc":null,"DeviceId":"{{device}}","PatientId":null,"EncounterId":null,"CorrelationId":{{(correlation is null ? "null" : $"\"{correlation}\"")}},"Properties":[{"Name":"{{(type == "ecg" ? "mv" : "hr")}}","Value":"{{value}}"}]}]}""";

    private static byte[] Bytes(string device, string hourMinute, string value) => Encoding.UTF8.GetBytes(Group(device, $"2026-11-24T{hourMinute}:00Z", value));

    private static byte[] Packed(params string[] groups) => MedTech.Edge.Hub.PackedMessage.Pack(groups.Select(g => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(g)).ToList());

    private async Task<string> HeartRateDataAsync(string device, string hour)
    {
        var start = DateTime.Parse(hour, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal);
        var group = new ObservationGroup("heartrate", start, start.AddHours(1).AddTicks(-1), $"{start:yyyyMMddHH}0000Z.{start:yyyyMMddHH}5959Z", new Dictionary<string, IReadOnlyList<TimedValue>>());
        var id = ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(new ResourceIds("p-" + device, "d-" + device), group));
        var found = await client!.SearchAsync<Observation>($"Observation?_id={id}", default);
        return ((SampledData)Assert.Single(found).Value!).Data ?? "";
    }
}
