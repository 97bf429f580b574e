using System.Globalization;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The right patient for every reading, through the writer and the real FHIR server: each measurement is charted to
/// the Patient its device was on when it was measured (DeviceUseStatements or the Device's history), whenever it
/// arrives; a measurement no association covers, or two Patients cover, is a dead letter, never a guess.
/// </summary>
public sealed class PatientAssociationTests(WriterFhirServer fhir, ITestOutputHelper output) : IClassFixture<WriterFhirServer>, IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string monitor = "monitor-" + Guid.NewGuid().ToString("N")[..10];
    private readonly List<IDisposable> disposables = [];
    private FhirServerClient client = null!;

    private string DeviceId => "d-" + monitor;

    private string A => "pa-" + monitor;

    private string B => "pb-" + monitor;

    public void Dispose()
    {
        foreach (var disposable in disposables)
        {
            disposable.Dispose();
        }
    }

    [Fact]
    public async Task GivenABacklogMeasuredAcrossARelink_WhenDeliveredAfterIt_ThenEachReadingIsChartedToThePatientOfItsTime_DeviceUseStatements()
    {
        // The Device now names B, as a re-linked monitor's does: MedTech would chart the whole backlog to B.
        var writer = await WriterAsync(PatientAssociation.DeviceUseStatement, linkedTo: "B");
        await StatementAsync("s1", A, "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z");
        await StatementAsync("s2", B, "2026-11-20T10:30:00Z", null);
        await StatementAsync("s3", "pc-" + monitor, "2026-11-20T09:00:00Z", null, DeviceUseStatement.DeviceUseStatementStatus.EnteredInError);
        var times = Enumerable.Range(0, 12).Select(i => Utc("2026-11-20T10:00:00Z").AddMinutes(5 * i)).ToList();

        // Delivered after the re-link as three hub messages whose groups straddle it, as a gateway's backlog is.
        var deadLetters = await writer.WriteAsync(times.Chunk(4).Select(chunk => Message(chunk.Select(t => (t, Value(t))).ToArray())).ToList(), default);

        Assert.Empty(deadLetters);
        Assert.Equal(times.Where(t => t.Minute < 30).Select(Value), Sorted(await ChartedValues.ReadAsync(client, A, DeviceId)));
        Assert.Equal(times.Where(t => t.Minute >= 30).Select(Value), Sorted(await ChartedValues.ReadAsync(client, B, DeviceId)));
        Assert.Empty(await ChartedValues.ReadAsync(client, "pc-" + monitor, DeviceId));
        // The hour's two Observations are MedTech's, one per Patient: same identifier rule, same ids.
        Assert.Equal(["70 E", "E"], [(await HourAsync(A, "2026-11-20T10:00:00Z")).Data![..4], (await HourAsync(B, "2026-11-20T10:00:00Z")).Data![..1]]);
    }

    [Fact]
    public async Task GivenABacklogMeasuredAcrossARelink_WhenDeliveredAfterIt_ThenEachReadingIsChartedToThePatientOfItsTime_DeviceHistory()
    {
        var writer = await WriterAsync(PatientAssociation.DeviceHistory, linkedTo: "A");
        // The re-link a few seconds after the Device was made, so readings fit between in slots of their own.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await RelinkAsync(B);
        var history = await client.HistoryAsync<Device>($"Device/{DeviceId}/_history", default);
        var made = history.Min(v => v.Time!.Value).UtcDateTime;
        var relinked = history.Max(v => v.Time!.Value).UtcDateTime;
        var beforeMade = made.AddSeconds(-2);
        DateTime[] onA = [made, relinked.AddMilliseconds(-1)];
        DateTime[] onB = [relinked, relinked.AddSeconds(1), relinked.AddSeconds(5)];

        var uncovered = Message((beforeMade, "1"));
        var deadLetters = await writer.WriteAsync([uncovered, Message(onA.Concat(onB).Select((t, i) => (t, (80 + i).ToString(CultureInfo.InvariantCulture))).ToArray())], default);

        var deadLetter = Assert.Single(deadLetters);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, deadLetter.Code);
        Assert.Equal(uncovered.Payload, deadLetter.Payload);
        Assert.Equal(["80", "81"], Sorted(await ChartedValues.ReadAsync(client, A, DeviceId)));
        Assert.Equal(["82", "83", "84"], Sorted(await ChartedValues.ReadAsync(client, B, DeviceId)));
    }

    [Fact]
    public async Task GivenReadingsNoAssociationOrTwoPatientsCover_WhenWritten_ThenTheyAreDeadLetteredAndTheCoveredOneIsCharted()
    {
        var writer = await WriterAsync(PatientAssociation.DeviceUseStatement, linkedTo: "A");
        await StatementAsync("s1", A, "2026-11-20T10:00:00Z", null);
        await StatementAsync("s2", B, "2026-11-20T10:20:00Z", "2026-11-20T10:40:00Z");
        // Entered in error: were it counted, 09:50 would be C's and 10:10 ambiguous.
        await StatementAsync("s3", "pc-" + monitor, "2026-11-20T09:00:00Z", null, DeviceUseStatement.DeviceUseStatementStatus.EnteredInError);
        var none = Message((Utc("2026-11-20T09:50:00Z"), "50"));
        var both = Message((Utc("2026-11-20T10:30:00Z"), "30"));

        var deadLetters = await writer.WriteAsync([none, Message((Utc("2026-11-20T10:10:00Z"), "10")), both], default);

        Assert.Equal([(FhirErrorCodes.AmbiguousPatientAssociation, Convert.ToBase64String(both.Payload)), (FhirErrorCodes.NoPatientAssociation, Convert.ToBase64String(none.Payload))],
            deadLetters.Select(d => (d.Code, Convert.ToBase64String(d.Payload))).OrderBy(d => d.Code, StringComparer.Ordinal));
        Assert.All(deadLetters, d => Assert.DoesNotContain(monitor, d.Reason, StringComparison.Ordinal));
        Assert.Equal(["10"], Sorted(await ChartedValues.ReadAsync(client, A, DeviceId)));
        Assert.Empty(await ChartedValues.ReadAsync(client, B, DeviceId));
    }

    [Theory]
    [InlineData(PatientAssociation.DeviceUseStatement)]
    [InlineData(PatientAssociation.CurrentDevice)]
    public async Task GivenAMonitorSendingOnceASecond_WhenItIsRelinkedMidStream_ThenNothingMeasuredBeforeGoesToTheNewPatientAndEverythingAfterTheBoundDoes(PatientAssociation association)
    {
        // The writer's clock is moved by hand: each reading is written two seconds after it was measured. It runs
        // behind the server's, so statements written now count as changed since any time the writer asks about.
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        start = new DateTimeOffset(start.Year, start.Month, start.Day, start.Hour, start.Minute, start.Second, TimeSpan.Zero);
        var clock = new FakeTimeProvider(start);
        var writer = await WriterAsync(association, linkedTo: "A", clock);
        await StatementAsync("s1", A, start.AddHours(-1).ToString("o", CultureInfo.InvariantCulture), null);
        var relink = start.UtcDateTime.AddSeconds(40);
        var deadLetters = new List<WriterDeadLetter>();
        var readings = new List<(DateTime Time, string Value)>();
        for (var i = 0; i < 100; i++)
        {
            var measured = start.UtcDateTime.AddSeconds(i);
            if (measured == relink)
            {
                // The nurse moves the monitor: A's statement ends and B's begins at the re-link, and the Device names B.
                await StatementAsync("s1", A, start.AddHours(-1).ToString("o", CultureInfo.InvariantCulture), relink.ToString("o", CultureInfo.InvariantCulture));
                await StatementAsync("s2", B, relink.ToString("o", CultureInfo.InvariantCulture), null);
                await RelinkAsync(B);
            }

            clock.Advance(measured.AddSeconds(2) - clock.GetUtcNow().UtcDateTime);
            readings.Add((measured, (100 + i).ToString(CultureInfo.InvariantCulture)));
            deadLetters.AddRange(await writer.WriteAsync([Message(readings[^1])], default));
        }

        var onA = await ChartedValues.ReadAsync(client, A, DeviceId);
        var onB = await ChartedValues.ReadAsync(client, B, DeviceId);
        var lateToA = readings.Count(r => r.Time >= relink && onA.ContainsValue(r.Value));
        output.WriteLine($"{association}: {readings.Count(r => r.Time < relink)} readings before the re-link, all to A; {lateToA} measured after it still to A (bound {Bound.TotalSeconds} s)");
        Assert.Empty(deadLetters);
        Assert.Equal(readings.Count, onA.Count + onB.Count);
        Assert.All(readings.Where(r => r.Time < relink), r => Assert.True(onA.ContainsValue(r.Value) && !onB.ContainsValue(r.Value), $"measured before the re-link, not charted to A only: {r.Value}"));
        Assert.All(readings.Where(r => r.Time >= relink + Bound), r => Assert.True(onB.ContainsValue(r.Value), $"measured a bound after the re-link, not charted to B: {r.Value}"));
    }

    /// <summary>A writer on the real FHIR server with the given association; Patients A and B and the monitor's Device (linked to one of them) are there.</summary>
    private async Task<MeasurementWriter> WriterAsync(PatientAssociation association, string linkedTo, TimeProvider? clock = null)
    {
        var options = new FhirServerOptions { Url = fhir.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        client = new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, NullLogger<FhirServerClient>.Instance);
        await client.PutAsync(new Patient { Id = A }, null, default);
        await client.PutAsync(new Patient { Id = B }, null, default);
        await client.PutAsync(new Device { Id = DeviceId, Identifier = [new Identifier(null, monitor)], Patient = new ResourceReference($"Patient/{(linkedTo == "A" ? A : B)}") }, null, default);
        var identity = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Lookup", Association = association.ToString(), MaxStaleness = Bound }, clock);
        var persister = new ObservationPersister(client, identity, FhirMapping.Parse(Mapping).EnsureValid("test mapping"), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        var metrics = new WriterMetrics(client);
        disposables.AddRange([identity, persister, metrics]);
        return new MeasurementWriter(persister, metrics, new ModuleHealth(), Options.Create(new WriterOptions { MaxBackoff = TimeSpan.FromMilliseconds(200) }), NullLogger<MeasurementWriter>.Instance);
    }

    private async Task StatementAsync(string id, string patient, string start, string? end, DeviceUseStatement.DeviceUseStatementStatus status = DeviceUseStatement.DeviceUseStatementStatus.Active) =>
        await client.PutAsync(new DeviceUseStatement
        {
            Id = $"{id}-{monitor}",
            Status = status,
            Subject = new ResourceReference($"Patient/{patient}"),
            Device = new ResourceReference($"Device/{DeviceId}"),
            Timing = new Period { Start = start, End = end },
        }, null, default);

    private async Task RelinkAsync(string patient)
    {
        var device = Assert.Single(await client.SearchAsync<Device>($"Device?_id={DeviceId}", default));
        device.Patient = new ResourceReference($"Patient/{patient}");
        await client.PutAsync(device, null, default);
    }

    private async Task<SampledData> HourAsync(string patient, string hour)
    {
        var start = Utc(hour);
        var group = new ObservationGroup("heartrate", start, start.AddHours(1).AddTicks(-1), $"{start:yyyyMMddHH}0000Z.{start:yyyyMMddHH}5959Z", new Dictionary<string, IReadOnlyList<TimedValue>>());
        var id = ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(new ResourceIds(patient, DeviceId), group));
        return (SampledData)Assert.Single(await client.SearchAsync<Observation>($"Observation?_id={id}", default)).Value!;
    }

    /// <summary>One hub message: a measurement group of the monitor's heart rate readings, as the gateway sends it.</summary>
    private (string Key, byte[] Payload) Message(params (DateTime Time, string Value)[] readings)
    {
        var group = Assert.Single(MeasurementGrouper.Group(readings.Select(r => new Measurement
        {
            Type = "heartrate",
            OccurrenceTimeUtc = r.Time,
            DeviceId = monitor,
            Properties = [new MeasurementProperty("hr", r.Value)],
        })));
        return (monitor, MeasurementGroupJson.Serialize(group));
    }

    private static string Value(DateTime time) => (70 + time.Minute).ToString(CultureInfo.InvariantCulture);

    private static List<string> Sorted(Dictionary<DateTime, string> charted) => charted.OrderBy(c => c.Key).Select(c => c.Value).ToList();

    private static DateTime Utc(string text) => DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

    private const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartrate", "periodInterval": 60,
            "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
            "value": {"valueName": "hr", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "count/min"}}}
        ]}
        """;
}
