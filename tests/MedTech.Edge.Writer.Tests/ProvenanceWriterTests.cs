using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Confluent.Kafka;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The Provenance the writer adds to what it writes, through the real writer host, librdkafka's mock Kafka cluster and
/// the FHIR test server: it names the hub messages by topic/partition/offset, the gateway a message names, the
/// configured writer, and the Observation versions written; a Provenance the server refuses loses nothing.
/// </summary>
public sealed class ProvenanceWriterTests : IAsyncLifetime, IDisposable
{
    private const string Topic = "measurements";
    private readonly MockCluster cluster = new();
    private readonly string run = Guid.NewGuid().ToString("N")[..10];
    private readonly List<IDisposable> disposables = [];
    private FhirTestServer server = null!;

    public ProvenanceWriterTests()
    {
        cluster.CreateTopic(Topic, 2);
        cluster.CreateTopic("fhir-writer-deadletter", 1);
    }

    private string Monitor => "monitor-" + run;

    private string Patient => "patient-" + run;

    public async Task InitializeAsync() => server = await FhirTestServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    public void Dispose()
    {
        foreach (var disposable in disposables)
        {
            disposable.Dispose();
        }

        cluster.Dispose();
    }

    [Fact]
    public async Task GivenHubMessagesThroughAGateway_WhenTheWriterHostWritesThem_ThenTheirProvenanceNamesOffsetsGatewayWriterAndTheWrittenVersions()
    {
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new() { ["Persistence:ProvenanceAgent"] = "Device/writer-eu-1" });
        await writer.StartAsync();
        var offsets = new List<string>();
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            foreach (var (time, value) in new[] { ("2026-11-24T08:00:00Z", "71"), ("2026-11-24T08:00:01Z", "72") })
            {
                var sent = await producer.ProduceAsync(Topic, new Message<string, byte[]>
                {
                    Key = Monitor,
                    Value = Group(time, value),
                    Headers = [new Header(HubOptions.GatewayHeader, Encoding.UTF8.GetBytes("ward-7-gateway"))],
                });
                offsets.Add($"{Topic}/{sent.Partition.Value}/{sent.Offset.Value}");
            }
        }

        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => Named(fhir).GetAwaiter().GetResult().Count == 2, TimeSpan.FromSeconds(60), () => "the Provenance of both hub messages");
        var observations = await fhir.SearchAsync<Observation>("Observation?_count=100", default);
        var provenances = await fhir.SearchAsync<Provenance>("Provenance?_count=100", default);
        await writer.StopAsync();

        Assert.Equal(2, observations.Count);
        Assert.Equal(offsets.Order(StringComparer.Ordinal), await Named(fhir));
        // Every Observation's current version is the target of a Provenance, and nothing else is.
        Assert.Equal(observations.Select(o => $"Observation/{o.Id}/_history/{o.Meta!.VersionId}").Order(StringComparer.Ordinal),
            provenances.SelectMany(p => p.Target).Select(t => t.Reference).Order(StringComparer.Ordinal));
        Assert.All(provenances, p =>
        {
            Assert.Equal("Device/writer-eu-1", p.Agent[0].Who!.Reference);
            Assert.Equal(("urn:medtech-edge:gateway", "ward-7-gateway"), (p.Agent[1].Who!.Identifier!.System, p.Agent[1].Who!.Identifier!.Value));
            var json = FhirJson.Serialize(p);
            Assert.DoesNotContain(Monitor, json, StringComparison.Ordinal);
            Assert.DoesNotContain(Patient, json, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task GivenAGatewayWithAName_WhenBedsideMessagesFlowThroughItTheHubAndTheWriter_ThenEveryProvenanceNamesThatGatewayAndTheHubMessages()
    {
        var folder = Directory.CreateTempSubdirectory("medtech-provenance-").FullName;
        var mqttPort = Ports.Free();
        try
        {
            using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers, new() { ["Hub:GatewayName"] = "ward-7-gateway" });
            using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
            await gateway.StartAsync();
            await writer.StartAsync();
            var messages = VitalSigns.Messages(devices: 2, perDevice: 3);

            await VitalSigns.PublishAsync(mqttPort, messages);

            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => Targets(fhir).GetAwaiter().GetResult() == expected, TimeSpan.FromSeconds(60), () => "a Provenance for every Observation");
            await writer.StopAsync();
            await gateway.StopAsync();
            var hub = HubReader.Read(cluster.BootstrapServers, Topic, r => r.Count > 0, TimeSpan.FromSeconds(30));
            var provenances = await fhir.SearchAsync<Provenance>("Provenance?_count=1000", default);

            Assert.All(hub, m => Assert.Equal("ward-7-gateway", Encoding.UTF8.GetString(m.Headers.GetLastBytes(HubOptions.GatewayHeader))));
            Assert.All(provenances, p => Assert.Equal(
                [("performer", "urn:medtech-edge:writer", "medtech-edge-writer"), ("assembler", "urn:medtech-edge:gateway", "ward-7-gateway")],
                p.Agent.Select(a => (a.Type!.Coding[0].Code, a.Who!.Identifier!.System, a.Who.Identifier.Value)).ToList()));
            Assert.All(provenances.SelectMany(p => p.Entity), e => Assert.Matches($"^{Topic}/[01]/[0-9]+(-[0-9]+)?$", e.What!.Identifier!.Value));
            Assert.DoesNotContain(provenances, p => FhirJson.Serialize(p).Contains("monitor-1", StringComparison.Ordinal) || FhirJson.Serialize(p).Contains("patient-1", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task GivenMessagesWithoutHubIds_WhenWritten_ThenTheProvenanceNamesEachByTheHashOfItsBytes()
    {
        var (writer, client, _) = MeasurementWriterFor(new FaultInjectingHandler());
        var first = Group("2026-11-24T09:00:00Z", "71");
        var second = Group("2026-11-24T09:00:01Z", "72");

        var deadLetters = await writer.WriteAsync([(Monitor, first), (Monitor, second)], default);

        Assert.Empty(deadLetters);
        var provenance = Assert.Single(await client.SearchAsync<Provenance>("Provenance?_count=100", default));
        Assert.Equal(new[] { first, second }.Select(b => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b))).Order(StringComparer.Ordinal),
            provenance.Entity.Select(e => e.What!.Identifier!.Value));
        Assert.Single(provenance.Agent);
    }

    [Fact]
    public async Task GivenAServerThatRefusesEveryProvenance_WhenTheWriterWrites_ThenNothingIsDeadLetteredTheObservationsAreThereAndTheFailureIsCounted()
    {
        long failed = 0, written = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == WriterMetrics.MeterName && instrument.Name == "provenance")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                _ = (string?)tag.Value == "failed" ? Interlocked.Add(ref failed, value) : (string?)tag.Value == "written" ? Interlocked.Add(ref written, value) : 0;
            }
        });
        listener.Start();
        var (writer, client, _) = MeasurementWriterFor(new FaultInjectingHandler { RefuseOn = "\"resourceType\":\"Provenance\"", RefuseStatus = System.Net.HttpStatusCode.UnprocessableEntity });

        var deadLetters = await writer.WriteAsync([(Monitor, Group("2026-11-24T10:00:00Z", "71")), (Monitor, Group("2026-11-24T10:00:01Z", "72"))], default);

        Assert.Empty(deadLetters);
        Assert.Equal(2, (await client.SearchAsync<Observation>("Observation?_count=100", default)).Count);
        Assert.Empty(await client.SearchAsync<Provenance>("Provenance?_count=100", default));
        Assert.True(Interlocked.Read(ref failed) >= 1, "the refused Provenance is counted");
    }

    /// <summary>A MeasurementWriter on the vital-signs mapping in Create mode, its client passing <paramref name="faults"/>.</summary>
    private (MeasurementWriter Writer, FhirServerClient Client, WriterMetrics Metrics) MeasurementWriterFor(FaultInjectingHandler faults)
    {
        faults.InnerHandler = new SocketsHttpHandler();
        var options = new FhirServerOptions { Url = server.BaseUrl, InitialBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50), MaxAttempts = 2 };
        var client = new FhirServerClient(new HttpClient(faults) { BaseAddress = server.BaseUrl }, options, NullLogger<FhirServerClient>.Instance);
        var identity = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
        var persister = new ObservationPersister(client, identity, FhirMapping.Load(VitalSigns.FhirMapping).EnsureValid("vital signs"), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        var metrics = new WriterMetrics(client);
        disposables.AddRange([faults, identity, persister, metrics]);
        var writer = new MeasurementWriter(persister, metrics, new ModuleHealth(), Options.Create(new WriterOptions { MaxBackoff = TimeSpan.FromMilliseconds(200) }), NullLogger<MeasurementWriter>.Instance);
        return (writer, client, metrics);
    }

    /// <summary>How many Observation versions the Provenance on the server names.</summary>
    private static async Task<int> Targets(FhirServerClient client) =>
        (await client.SearchAsync<Provenance>("Provenance?_count=1000", default)).Sum(p => p.Target.Count);

    /// <summary>The hub message ids the Provenance on the server names, ranges (<c>topic/partition/first-last</c>) expanded.</summary>
    private static async Task<List<string>> Named(FhirServerClient client) =>
        (await client.SearchAsync<Provenance>("Provenance?_count=100", default)).SelectMany(p => p.Entity).Select(e => e.What!.Identifier!.Value!).SelectMany(Expand)
            .Order(StringComparer.Ordinal).ToList();

    private static IEnumerable<string> Expand(string id)
    {
        var slash = id.LastIndexOf('/');
        var range = id[(slash + 1)..].Split('-');
        return range.Length == 2
            ? Enumerable.Range(int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(range[1], System.Globalization.CultureInfo.InvariantCulture) - int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture) + 1)
                .Select(o => $"{id[..slash]}/{o}")
            : [id];
    }

    /// <summary>A heart-rate measurement group as the gateway sends it to the hub.</summary>
    private byte[] Group(string time, string value) => MeasurementGroupJson.Serialize(Assert.Single(MeasurementGrouper.Group(
    [
        new Measurement
        {
            Type = "heartRate",
            OccurrenceTimeUtc = DateTime.Parse(time, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal),
            DeviceId = Monitor,
            PatientId = Patient,
            Properties = [new MeasurementProperty("heartRate", value)],
        },
    ])));
}
