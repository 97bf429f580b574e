using System.Diagnostics.Metrics;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The whole chain through real parts: an MQTT client → the gateway (embedded broker, LiteDB buffer) → librdkafka's
/// mock Kafka cluster → the FHIR writer → the Medplum-based FHIR server, on the bundled vital-signs mappings.
/// </summary>
public sealed class PipelineEndToEndTests : WriterPipelineTest
{
    private readonly Func<long> unchanged;

    public PipelineEndToEndTests()
        : base("medtech-e2e-", ("measurements", 4))
    {
        unchanged = CountUnchangedObservations();
    }

    [Fact]
    public async Task GivenBedsideMessages_WhenTheyFlowThroughGatewayHubAndWriter_ThenEachReadingIsInExactlyOneObservationAndARerunChangesNothing()
    {
        var messages = VitalSigns.Messages(devices: 3, perDevice: 10);
        var monitoringPort = Ports.Free();
        using var gateway = BuildGateway();
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, monitoringPort);
        await gateway.StartAsync();
        await writer.StartAsync();

        await PublishAsync(messages);
        // Five groups (one per vital sign type) per device reach the writer per round at least; wait for all readings.
        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == messages.Count * VitalSigns.ObservationsPerMessage,
            TimeSpan.FromSeconds(60), () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} Observations");
        var first = await VitalSigns.ObservationsAsync(fhir);
        VitalSigns.AssertEachReadingOnce(messages, first);

        // The same data again: every Observation is found up to date, and not one changes.
        await PublishAsync(messages);
        var expected = messages.Count * VitalSigns.ObservationsPerMessage;
        await Eventually.HoldsAsync(() => unchanged() >= expected, TimeSpan.FromSeconds(60), () => $"{unchanged()} of {expected} Observations unchanged");
        var second = await VitalSigns.ObservationsAsync(fhir);
        Assert.Equal(first.ToDictionary(o => o.Id!, o => o.Meta!.VersionId), second.ToDictionary(o => o.Id!, o => o.Meta!.VersionId));

        // The writer's own metrics and health, as an operator scrapes them; no device or patient id in a label.
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{monitoringPort}/metrics"));
        Assert.Contains("medtech_edge_writer_observations", metrics);
        Assert.Contains("outcome=\"unchanged\"", metrics);
        Assert.Contains("medtech_edge_writer_consumer_lag", metrics);
        Assert.Contains("medtech_edge_writer_fhir_requests", metrics);
        Assert.DoesNotContain("monitor-1", metrics);
        Assert.DoesNotContain("patient-1", metrics);
        Assert.Contains("\"Healthy\"", await http.GetStringAsync(new Uri($"http://127.0.0.1:{monitoringPort}/health")));

        await writer.StopAsync();
        await gateway.StopAsync();
    }

    [Fact]
    public async Task GivenHubMessagesThatAreNotMeasurementGroups_WhenTheWriterConsumesThem_ThenEachBadGroupIsDeadLetteredOnItsOwnAndTheRestIsWritten()
    {
        var messages = VitalSigns.Messages(devices: 1, perDevice: 2);
        using var writer = BuildWriter();
        await writer.StartAsync();
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            // Not JSON; a packed message whose two elements are not groups (each is a dead letter of its own); a broken array (one, whole);
            // a group with null where its properties belong (a NullReferenceException in the writer once).
            foreach (var value in new[] { "not a group", """[{"id":"no measurements"},7]""", """[{"id":"cut off""", NullProperties })
            {
                await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = System.Text.Encoding.UTF8.GetBytes(value) });
            }
        }

        using var gateway = BuildGateway();
        await gateway.StartAsync();
        await PublishAsync(messages);

        var deadLetters = HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", received => received.Count >= 5, TimeSpan.FromSeconds(60));
        Assert.Equal(["not a group", """{"id":"no measurements"}""", "7", """[{"id":"cut off""", NullProperties], deadLetters.Select(d => System.Text.Encoding.UTF8.GetString(d.Value)));
        Assert.All(deadLetters, d => Assert.Equal("InvalidHubMessage", System.Text.Encoding.UTF8.GetString(d.Headers.GetLastBytes("reason-code"))));
        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == messages.Count * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
        VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));

        await gateway.StopAsync();
        await writer.StopAsync();
    }

    [Fact]
    public async Task GivenAWriterThatStoppedCleanly_WhenTheNextOneStarts_ThenItContinuesAfterWhatTheFirstWrote()
    {
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        using (var first = BuildWriter())
        {
            await first.StartAsync();
            await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = "first"u8.ToArray() });
            Assert.Single(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", received => received.Count >= 1, TimeSpan.FromSeconds(60)));
            await first.StopAsync();
        }

        using var next = BuildWriter();
        await next.StartAsync();
        await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = "second"u8.ToArray() });

        // One partition, in order: had the first message's offset not been committed on stop, it would come again before this.
        var deadLetters = HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", received => received.Any(m => m.Value.SequenceEqual("second"u8.ToArray())), TimeSpan.FromSeconds(60));
        Assert.Equal(["first", "second"], deadLetters.Select(m => System.Text.Encoding.UTF8.GetString(m.Value)));
        await next.StopAsync();
    }

    [Fact]
    public async Task GivenAHubMessageTooLargeToDeadLetterWhole_WhenItFails_ThenItsReasonIsDeadLetteredWithoutItAndTheNextMessageFollows()
    {
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        using var writer = BuildWriter();
        await writer.StartAsync();

        // Just under the hub's 1,000,000-byte limit: with the reason's headers added it no longer fits.
        await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = new byte[999_900] });
        await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = "next"u8.ToArray() });

        var deadLetters = HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", received => received.Count >= 2, TimeSpan.FromSeconds(60));
        Assert.Equal([0, 4], deadLetters.Select(m => m.Value.Length));
        Assert.Equal("InvalidHubMessage", System.Text.Encoding.UTF8.GetString(deadLetters[0].Headers.GetLastBytes("reason-code")));
        Assert.StartsWith("999900 bytes did not fit", System.Text.Encoding.UTF8.GetString(deadLetters[0].Headers.GetLastBytes("payload-omitted")), StringComparison.Ordinal);
        await writer.StopAsync();
    }

    [Fact]
    public async Task GivenADeadLetterProducerThatFailsFatally_WhenTheWriterNeedsIt_ThenItStopsWithExitCode1WithoutCommittingTheBatch()
    {
        using (var broken = BuildWriter())
        {
            var run = broken.RunModuleAsync(TextWriter.Null);
            MockCluster.TriggerFatalError(broken.Services.GetRequiredService<IProducer<string, byte[]>>(), ErrorCode.ClusterAuthorizationFailed);
            using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
            await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = "not a group"u8.ToArray() });

            Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(60)));
        }

        // The batch was not committed: the next writer of the group consumes it again and dead-letters it.
        using var writer = BuildWriter();
        await writer.StartAsync();
        var deadLetter = Assert.Single(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", received => received.Count >= 1, TimeSpan.FromSeconds(60)));
        Assert.Equal("not a group"u8.ToArray(), deadLetter.Value);
        await writer.StopAsync();
    }

    [Fact]
    public async Task GivenTheFhirServerFailsLongerThanTheClientRetries_WhenItRecovers_ThenTheWriterHasLostNothingAndWrittenNothingTwice()
    {
        var messages = VitalSigns.Messages(devices: 2, perDevice: 5);
        // 40 failures outlast the client's own attempts several times over: the writer keeps the batch, backs off, retries.
        await server.FailNextAsync(40, System.Net.HttpStatusCode.ServiceUnavailable);
        using var gateway = BuildGateway();
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
        {
            ["FhirServer:MaxAttempts"] = "2",
            ["FhirServer:InitialBackoff"] = "00:00:00.050",
            ["Writer:MaxBackoff"] = "00:00:00.500",
        });
        await gateway.StartAsync();
        await writer.StartAsync();

        await PublishAsync(messages);

        var fhir = VitalSigns.Client(server.BaseUrl);
        int Stored()
        {
            try
            {
                return VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count;
            }
            catch (MedTech.Edge.Persist.Server.FhirServerUnavailableException)
            {
                return -1; // this check's own requests meet the injected failures too
            }
        }

        await Eventually.HoldsAsync(() => Stored() == messages.Count * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(90), () => $"{Stored()} Observations");
        VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));
        await writer.StopAsync();
        await gateway.StopAsync();
    }

    private const string NullProperties = """{"id":"g","measurements":[{"Type":"heartrate","OccurrenceTimeUtc":"2026-11-24T08:00:00Z","DeviceId":"monitor-1","Properties":null}]}""";

    private Task PublishAsync(IEnumerable<VitalSigns.Message> messages) => VitalSigns.PublishAsync(mqttPort, messages);

    private IHost BuildGateway() => TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);

    private IHost BuildWriter() => TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
}
