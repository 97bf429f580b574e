using System.Diagnostics.Metrics;
using System.Globalization;
using Hl7.Fhir.Model;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Templates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// review23c: the freshness histogram <c>medtech_edge_writer_latency_device_to_written_seconds</c> ("from a measurement's
/// device time to its Observation written on the FHIR server, per measurement") is what the MedTechEdgeStale alert and
/// the dashboard's latency row read. MeasurementWriter records it for every measurement of a batch the persister
/// returned from (WriterMetrics.OnPersisted(batch...)), the ones it returned as errors included: a reading no Patient
/// association covers is dead-lettered, never charted, yet counted as written "just now". A ward whose monitors lost
/// their DeviceUseStatements shows fresh data on the dashboard and never trips the stale alert while nothing reaches
/// the chart. Through the real FHIR server, as PatientAssociationTests.
/// </summary>
public sealed class Review23cFreshnessTests(WriterFhirServer fhir) : IClassFixture<WriterFhirServer>, IDisposable
{
    private readonly string monitor = "monitor-" + Guid.NewGuid().ToString("N")[..10];
    private readonly List<IDisposable> disposables = [];

    private string DeviceId => "d-" + monitor;

    private string Patient => "pa-" + monitor;

    public void Dispose() => disposables.ForEach(d => d.Dispose());

    [Fact]
    public async Task GivenOneReadingChartedAndTwoNoAssociationCovers_WhenWritten_ThenFreshnessCountsOnlyTheChartedOne()
    {
        var (writer, metrics) = await WriterAsync();
        var client = Client();
        await client.PutAsync(new DeviceUseStatement
        {
            Id = "s1-" + monitor,
            Status = DeviceUseStatement.DeviceUseStatementStatus.Active,
            Subject = new ResourceReference($"Patient/{Patient}"),
            Device = new ResourceReference($"Device/{DeviceId}"),
            Timing = new Period { Start = "2026-11-20T10:00:00Z", End = null },
        }, null, default);

        var written = new List<double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, metrics.DeviceToWritten))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
        {
            lock (written)
            {
                written.Add(value);
            }
        });
        listener.Start();

        // 09:50 and 09:55: before the only statement, so no Patient covers them (dead letters); 10:10 is charted.
        var deadLetters = await writer.WriteAsync(
            [Message((Utc("2026-11-20T09:50:00Z"), "50"), (Utc("2026-11-20T09:55:00Z"), "55")), Message((Utc("2026-11-20T10:10:00Z"), "10"))], default);

        var deadLetter = Assert.Single(deadLetters);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, deadLetter.Code);
        Assert.Equal(["10"], (await ChartedValues.ReadAsync(client, Patient, DeviceId)).Values);
        Assert.True(written.Count == 1, $"freshness counted {written.Count} measurements as written to FHIR; 1 was (2 were dead-lettered)");
    }

    private FhirServerClient Client()
    {
        var options = new FhirServerOptions { Url = fhir.Server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(200) };
        return new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, NullLogger<FhirServerClient>.Instance);
    }

    private async Task<(MeasurementWriter Writer, WriterMetrics Metrics)> WriterAsync()
    {
        var client = Client();
        await client.PutAsync(new Patient { Id = Patient }, null, default);
        await client.PutAsync(new Device { Id = DeviceId, Identifier = [new Identifier(null, monitor)], Patient = new ResourceReference($"Patient/{Patient}") }, null, default);
        var identity = new IdentityResolver(client, new ResourceIdentityOptions
        {
            ResourceIdentityServiceType = "Lookup", Association = nameof(PatientAssociation.DeviceUseStatement), MaxStaleness = TimeSpan.FromSeconds(30),
        });
        var persister = new ObservationPersister(client, identity, FhirMapping.Parse(Mapping).EnsureValid("test mapping"), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        var metrics = new WriterMetrics(client);
        disposables.AddRange([identity, persister, metrics]);
        var writer = new MeasurementWriter(persister, metrics, new ModuleHealth(), Options.Create(new WriterOptions { MaxBackoff = TimeSpan.FromMilliseconds(200) }), NullLogger<MeasurementWriter>.Instance);
        return (writer, metrics);
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

    private static DateTime Utc(string text) => DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

    private const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartrate", "periodInterval": 60,
            "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
            "value": {"valueName": "hr", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "count/min"}}}
        ]}
        """;
}
