using System.Globalization;
using Confluent.Kafka;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// A monitor re-linked from patient A to B mid-stream, through the real writer host (hub consumer on the mock Kafka
/// cluster, the real FHIR server, real clocks): nothing measured before the re-link is charted to B, and everything
/// measured more than <see cref="ResourceIdentityOptions.MaxStaleness"/> after it is charted to B.
/// </summary>
public sealed class WriterHostRelinkTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(3);
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-relink-").FullName;
    private readonly string monitor = "monitor-" + Guid.NewGuid().ToString("N")[..10];
    private readonly MockCluster cluster = new();
    private FhirTestServer server = null!;
    private FhirServerClient client = null!;

    private string DeviceId => "d-" + monitor;

    private string A => "pa-" + monitor;

    private string B => "pb-" + monitor;

    public async Task InitializeAsync()
    {
        cluster.CreateTopic("measurements", 2);
        cluster.CreateTopic("fhir-writer-deadletter", 1);
        server = await FhirTestServer.StartAsync();
        client = VitalSigns.Client(server.BaseUrl);
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData(PatientAssociation.DeviceUseStatement)]
    [InlineData(PatientAssociation.DeviceHistory)]
    public async Task GivenAMonitorSendingOnceASecond_WhenItIsRelinkedMidStream_ThenNothingBeforeGoesToBAndEverythingAfterTheBoundDoes(PatientAssociation association)
    {
        await client.PutAsync(new Patient { Id = A }, null, default);
        await client.PutAsync(new Patient { Id = B }, null, default);
        await client.PutAsync(new Device { Id = DeviceId, Identifier = [new Identifier(null, monitor)], Patient = new ResourceReference($"Patient/{A}") }, null, default);
        var opened = DateTime.UtcNow.AddHours(-1);
        await StatementAsync("s1", A, opened, null);
        var mapping = Path.Combine(folder, "heartrate.fhir-mapping.json");
        await File.WriteAllTextAsync(mapping, Mapping);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
        {
            ["Writer:FhirMappingPath"] = mapping,
            ["Writer:InHandPath"] = Path.Combine(folder, "inhand.json"),
            ["ResourceIdentity:ResourceIdentityServiceType"] = "Lookup",
            ["ResourceIdentity:Association"] = association.ToString(),
            ["ResourceIdentity:MaxStaleness"] = Bound.ToString(),
        });
        await writer.StartAsync();
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        // Readings are stamped to the second: the first one must not fall before the Device's first version.
        await Task.Delay(TimeSpan.FromSeconds(1.1));

        // One reading a second, measured now; the re-link after five, then as long again as the bound and more.
        var readings = new List<(DateTime Time, string Value)>();
        DateTime? relink = null;
        for (var i = 0; i < 14; i++)
        {
            var now = DateTime.UtcNow;
            var measured = new DateTime(now.Ticks - (now.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);
            if (readings.Count > 0 && measured <= readings[^1].Time)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100));
                i--;
                continue;
            }

            if (i == 5)
            {
                relink = await RelinkAsync(association, measured.AddMilliseconds(-500));
            }

            readings.Add((measured, (100 + i).ToString(CultureInfo.InvariantCulture)));
            await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = monitor, Value = Message(readings[^1]) });
            await Task.Delay(TimeSpan.FromMilliseconds(900));
        }

        await Eventually.HoldsAsync(() => Charted(A).Count + Charted(B).Count >= readings.Count, TimeSpan.FromSeconds(60),
            () => $"{Charted(A).Count + Charted(B).Count} of {readings.Count} readings charted");
        var onA = Charted(A);
        var onB = Charted(B);
        output.WriteLine($"{association}: re-link at {relink:HH:mm:ss.fff}; A {string.Join(' ', onA.OrderBy(c => c.Key).Select(c => c.Value))}; B {string.Join(' ', onB.OrderBy(c => c.Key).Select(c => c.Value))}");
        Assert.Equal(readings.Count, onA.Count + onB.Count);
        Assert.All(readings.Where(r => r.Time < relink), r => Assert.True(onA.ContainsValue(r.Value) && !onB.ContainsValue(r.Value), $"measured before the re-link, not on A only: {r.Value}"));
        Assert.All(readings.Where(r => r.Time >= relink + Bound), r => Assert.True(onB.ContainsValue(r.Value) && !onA.ContainsValue(r.Value), $"measured a bound after the re-link, not on B: {r.Value}"));
        Assert.Contains(readings, r => r.Time >= relink + Bound);
        await writer.StopAsync();
    }

    /// <summary>The nurse moves the monitor: A's statement ends and B's begins at <paramref name="at"/>, and the Device names B. When the re-link counts.</summary>
    private async Task<DateTime> RelinkAsync(PatientAssociation association, DateTime at)
    {
        if (association == PatientAssociation.DeviceUseStatement)
        {
            await StatementAsync("s1", A, DateTime.UtcNow.AddHours(-1), at);
            await StatementAsync("s2", B, at, null);
        }

        var device = Assert.Single(await client.SearchAsync<Device>($"Device?_id={DeviceId}", default));
        device.Patient = new ResourceReference($"Patient/{B}");
        var relinked = await client.PutAsync(device, null, default);
        // With Device history the re-link is when the server stored the new version.
        return association == PatientAssociation.DeviceHistory ? relinked.Meta!.LastUpdated!.Value.UtcDateTime : at;
    }

    private async Task StatementAsync(string id, string patient, DateTime start, DateTime? end) =>
        await client.PutAsync(new DeviceUseStatement
        {
            Id = $"{id}-{monitor}",
            Status = DeviceUseStatement.DeviceUseStatementStatus.Active,
            Subject = new ResourceReference($"Patient/{patient}"),
            Device = new ResourceReference($"Device/{DeviceId}"),
            Timing = new Period { Start = start.ToString("o", CultureInfo.InvariantCulture), End = end?.ToString("o", CultureInfo.InvariantCulture) },
        }, null, default);

    private Dictionary<DateTime, string> Charted(string patient) => ChartedValues.ReadAsync(client, patient, DeviceId).GetAwaiter().GetResult();

    /// <summary>One hub message: a measurement group of one heart rate reading, as the gateway sends it.</summary>
    private byte[] Message((DateTime Time, string Value) reading) => MeasurementGroupJson.Serialize(Assert.Single(MeasurementGrouper.Group([new Measurement
    {
        Type = "heartrate",
        OccurrenceTimeUtc = reading.Time,
        DeviceId = monitor,
        Properties = [new MeasurementProperty("hr", reading.Value)],
    }])));

    private const string Mapping = """
        {"templateType": "CollectionFhir", "template": [
          {"templateType": "CodeValueFhir", "template": {"typeName": "heartrate", "periodInterval": 60,
            "codes": [{"code": "8867-4", "system": "http://loinc.org", "display": "Heart rate"}],
            "value": {"valueName": "hr", "valueType": "SampledData", "defaultPeriod": 1000, "unit": "count/min"}}}
        ]}
        """;
}
