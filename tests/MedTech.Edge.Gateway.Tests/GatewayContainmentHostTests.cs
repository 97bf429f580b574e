using MedTech.Edge.Mapping.Normalization;
using System.Globalization;
using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Containment through the whole gateway host (real MQTT client → embedded broker → LiteDB file → normalization →
/// mock cluster): hostile messages are dead letters, the next good reading reaches the hub, and the metrics balance.
/// The monitoring endpoint's OpenTelemetry meter provider listens to every meter of the module's name in the process,
/// so another gateway alive in this test process would add to the counters: the test takes the counters' deltas from a
/// scrape before it publishes, and runs alone in its collection so no other test's gateway adds to them meanwhile.
/// </summary>
[Collection(ProcessMetricsGroup.Name)]
public sealed class GatewayContainmentHostTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-contain-host-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();
    private readonly int metricsPort = Ports.Free();

    public GatewayContainmentHostTests() => cluster.CreateTopic("measurements", 4);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenHostileMessages_WhenPublished_ThenEachIsADeadLetterTheNextGoodReadingReachesTheHubAndTheCountersBalance()
    {
        var mapping = Path.Combine(folder, "seq.json");
        await File.WriteAllTextAsync(mapping, SeqMessages.Mapping);
        var throwing = SeqMessages.Payload("bed-9", 999);
        using var host = Build(mapping, new TestFaults { ThrowOnPayloadSha256 = TestFaults.Sha256(Encoding.UTF8.GetBytes(throwing)) });
        await host.StartAsync();
        using var http = new HttpClient();
        var before = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
        using var hostile = new MqttClientFactory().CreateMqttClient();
        using var good = new MqttClientFactory().CreateMqttClient();
        await hostile.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-9")
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build());
        await good.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-1").Build());

        var hostileMessages = new[]
        {
            Qos1("devices/bed-9/x", Encoding.UTF8.GetBytes(throwing)).Build(),
            Qos1("devices/bed-9/x", "not json"u8.ToArray()).WithUserProperty("a\0b", "v\0"u8.ToArray().AsMemory()).Build(),
            Qos1("devices/bed-9/x", "[1, 2, {\"seq\": null}]"u8.ToArray()).Build(),
            Qos1("devices/bed-9/x", "{\"device\": \"bed-9\", \"time\": \"9999-12-31T23:59:59.9999999Z\", \"seq\": 1e308}"u8.ToArray()).Build(),
        };
        foreach (var message in hostileMessages)
        {
            Assert.True((await hostile.PublishAsync(message)).IsSuccess);
        }

        Assert.True((await good.PublishAsync(Qos1("devices/bed-1/seq", Encoding.UTF8.GetBytes(SeqMessages.Payload("bed-1", 1))).Build())).IsSuccess);

        var seen = HubReader.Read(cluster.BootstrapServers, "measurements", received => Seqs(received).Contains(1), TimeSpan.FromSeconds(60));
        Assert.Contains(1, Seqs(seen));
        var store = host.Services.GetRequiredService<GatewayStore>();
        await Eventually.HoldsAsync(() => store.Stats().Inbox == 0, TimeSpan.FromSeconds(60));
        var deadLetters = store.ListDeadLetters();
        Assert.Contains(deadLetters, d => d.Code == ErrorCodes.ProcessingError && Encoding.UTF8.GetString(d.Message.Payload.Span) == throwing);
        Assert.Contains(deadLetters, d => d.Message.Payload.Span.SequenceEqual("not json"u8));

        // received = committed = normalized + dead-lettered (by Normalize) + pending (+ what was pending at start: none).
        // The counters move just after the commit that empties the inbox, so the check waits for them to settle.
        var text = "";
        double received = 0, committed = 0, normalized = 0, deadLettered = 0, pending = 0, pendingAtStart = 0;
        bool Balanced()
        {
            text = http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics")).GetAwaiter().GetResult();
            received = Sum(text, "medtech_edge_gateway_messages_received");
            committed = Sum(text, "medtech_edge_gateway_messages_committed");
            normalized = Sum(text, "medtech_edge_gateway_messages_normalized") - Sum(before, "medtech_edge_gateway_messages_normalized");
            deadLettered = Sum(text, "medtech_edge_gateway_messages_deadlettered", "stage=\"normalize\"")
                - Sum(before, "medtech_edge_gateway_messages_deadlettered", "stage=\"normalize\"");
            pending = Sum(text, "medtech_edge_gateway_buffer_depth", "collection=\"inbox\"");
            pendingAtStart = Sum(text, "medtech_edge_gateway_messages_pending_at_start");
            return received == hostileMessages.Length + 1 && committed == received && committed + pendingAtStart == normalized + deadLettered + pending;
        }

        await Eventually.HoldsAsync(Balanced, TimeSpan.FromSeconds(30), () =>
            $"received {received}, committed {committed}, pending at start {pendingAtStart}, normalized {normalized}, dead-lettered {deadLettered}, pending {pending}\n{text}");
        Assert.Equal(deadLetters.Count, (int)deadLettered);
        Assert.Equal(0, Sum(text, "medtech_edge_gateway_worker_faults") - Sum(before, "medtech_edge_gateway_worker_faults"));
        Assert.DoesNotContain("bed-9", text);
        await host.StopAsync();
    }

    /// <summary>The sum of a metric's samples in Prometheus text (counters may carry a _total suffix), optionally only those with a label.</summary>
    private static double Sum(string text, string name, string? label = null) => text.Split('\n')
        .Where(line => !line.StartsWith('#') && (line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal)
            || line.StartsWith(name + "_total", StringComparison.Ordinal)))
        .Where(line => label is null || line.Contains(label, StringComparison.Ordinal))
        .Sum(line => double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture));

    private static HashSet<int> Seqs(List<Confluent.Kafka.Message<string, byte[]>> received) => received.SelectMany(m => PackedMessage.Split(m.Value))
        .SelectMany(g => MeasurementGroupJson.Deserialize(g.Span).Measurements).Where(m => m.DeviceId == "bed-1").Select(SeqMessages.SeqOf).ToHashSet();

    private static MqttApplicationMessageBuilder Qos1(string topic, byte[] payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);

    private IHost Build(string mapping, TestFaults faults)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:DeviceMappingPath"] = mapping,
            ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt:AllowAnonymous"] = "true",
            ["Hub:BootstrapServers"] = cluster.BootstrapServers,
            ["Hub:Topic"] = "measurements",
            ["Monitoring:Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
        });
        builder.Services.AddSingleton(faults);
        builder.AddEdgeGateway().AddHubForwarding();
        return builder.Build();
    }
}

/// <summary>Tests that read the process's metrics, run when no other test runs.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMetricsGroup
{
    public const string Name = "Process metrics";
}
