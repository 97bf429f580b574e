using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>The whole gateway host: a real MQTT client → embedded broker → LiteDB file → normalization → librdkafka's mock cluster.</summary>
public sealed class GatewayHostTests : IDisposable
{
    private static readonly string Mapping = Corpus.Bench("device-mapping-calculated-jsonpath.json");
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-host-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();
    private readonly int metricsPort = Ports.Free();

    public GatewayHostTests() => cluster.CreateTopic("measurements", 4);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenARunningGateway_WhenABedsideMonitorPublishes_ThenItsMeasurementGroupsReachTheHub()
    {
        using var host = Build(Config());
        await host.StartAsync();
        var message = await File.ReadAllBytesAsync(Corpus.Bench("message-bedside-monitor.json"));
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("monitor-1").WithCredentials("monitor-1", "pw").Build());

        var ack = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/monitor-1/vitals").WithPayload(message)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        Assert.True(ack.IsSuccess);
        var expected = new Normalizer(Corpus.Mapping(Mapping)).Normalize(new DeviceMessage(message, DateTime.UtcNow)).Measurements.Count;
        var received = Consume(TimeSpan.FromSeconds(30), expected);
        Assert.Equal(expected, received.Sum(m => MeasurementGroupJson.Deserialize(m).Measurements.Count));
        // The message's groups (one per type) went out together, as one hub message: one event for Event Hubs.
        Assert.True(received.Count > 1, $"{received.Count} groups");
        Assert.Single(HubReader.Read(cluster.BootstrapServers, "measurements", _ => false, TimeSpan.FromSeconds(2)));
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
        Assert.Contains("medtech_edge_gateway_messages_committed", metrics);
        Assert.Contains("medtech_edge_gateway_messages_normalized", metrics);
        Assert.Contains("medtech_edge_gateway_buffer_depth", metrics);
        Assert.DoesNotContain("monitor-1", metrics);
        await host.StopAsync();
    }

    [Fact]
    public async Task GivenAHubOutageUnderLoad_WhenTheHubReturns_ThenEverythingArrivesInOrderPerDeviceAndTheBufferDrains()
    {
        var config = await SeqConfigAsync();
        config["Hub:DeliveryTimeout"] = "00:00:05";
        using var host = Build(config);
        await host.StartAsync();
        cluster.SetDown(true);
        string[] devices = ["bed-1", "bed-2", "bed-3"];
        var clients = new List<IMqttClient>();
        foreach (var device in devices)
        {
            var client = new MqttClientFactory().CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(device).Build());
            clients.Add(client);
        }

        foreach (var seq in Enumerable.Range(0, 300))
        {
            var ack = await clients[seq % 3].PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{devices[seq % 3]}/seq")
                .WithPayload(SeqMessages.Payload(devices[seq % 3], seq)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(ack.IsSuccess);
        }

        var store = host.Services.GetRequiredService<MedTech.Edge.Buffer.GatewayStore>();
        await WaitUntilAsync(() => store.Stats().Inbox == 0 && store.Stats().Outbox > 0);
        await WaitUntilAsync(() => Health().Status == "Degraded");
        Assert.Equal(HttpStatusCode.OK, Health().Code);
        Assert.Contains("hub", Health().Body);
        cluster.SetDown(false);

        var groups = Consume(TimeSpan.FromSeconds(60), received => received.SelectMany(m => MeasurementGroupJson.Deserialize(m).Measurements)
            .Select(SeqMessages.SeqOf).Distinct().Count() >= 300).Select(m => MeasurementGroupJson.Deserialize(m).Measurements).ToList();
        await WaitUntilAsync(() => store.Stats().Outbox == 0);
        await WaitUntilAsync(() => Health().Status == "Healthy");

        var seen = groups.SelectMany(g => g).Select(SeqMessages.SeqOf).ToHashSet();
        Assert.Equal(Enumerable.Range(0, 300).ToHashSet(), seen);
        foreach (var device in groups.SelectMany(g => g).GroupBy(m => m.DeviceId))
        {
            var firstSeen = device.Select(SeqMessages.SeqOf).Distinct().ToList();
            Assert.Equal(firstSeen.Order(), firstSeen);
        }

        foreach (var client in clients)
        {
            client.Dispose();
        }

        await host.StopAsync();
    }

    [Fact]
    public async Task GivenBadInputAndAFloodFromOneDevice_WhenAnotherDevicePublishes_ThenItsDataFlowsAndEveryBadMessageIsAccountedFor()
    {
        var config = await SeqConfigAsync();
        config["Mqtt:MaxMessageBytes"] = "4096";
        using var host = Build(config);
        await host.StartAsync();
        using var flooder = new MqttClientFactory().CreateMqttClient();
        using var neighbour = new MqttClientFactory().CreateMqttClient();
        await flooder.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-1").WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500).Build());
        await neighbour.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-2").Build());

        var flood = Task.Run(async () =>
        {
            foreach (var payload in new[] { "not json", "{\"unrelated\": true}", "{\"device\": \"bed-1\", \"seq\": \"no time\"}" })
            {
                await flooder.PublishAsync(Qos1("devices/bed-1/x", payload));
            }

            var oversized = await flooder.PublishAsync(Qos1("devices/bed-1/x", new string('x', 5000)));
            Assert.False(oversized.IsSuccess);
            foreach (var seq in Enumerable.Range(1000, 500))
            {
                await flooder.PublishAsync(Qos1("devices/bed-1/seq", SeqMessages.Payload("bed-1", seq)));
            }
        });
        foreach (var seq in Enumerable.Range(0, 10))
        {
            Assert.True((await neighbour.PublishAsync(Qos1("devices/bed-2/seq", SeqMessages.Payload("bed-2", seq)))).IsSuccess);
        }

        var received = Consume(TimeSpan.FromSeconds(60), r => r.SelectMany(m => MeasurementGroupJson.Deserialize(m).Measurements)
            .Where(m => m.DeviceId == "bed-2").Select(SeqMessages.SeqOf).Distinct().Count() >= 10);
        await flood;

        Assert.Equal(Enumerable.Range(0, 10), received.SelectMany(m => MeasurementGroupJson.Deserialize(m).Measurements)
            .Where(m => m.DeviceId == "bed-2").Select(SeqMessages.SeqOf).Distinct().Order());
        var store = host.Services.GetRequiredService<MedTech.Edge.Buffer.GatewayStore>();
        await WaitUntilAsync(() => store.Stats().DeadLetters == 3);
        Assert.Equal(["DroppedEvent", "IncompatibleDataException", "InvalidDataFormatException"], store.ListDeadLetters().Select(d => d.Code).Order());
        await host.StopAsync();
    }

    private static MqttApplicationMessage Qos1(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    [Fact]
    public async Task GivenAProducerThatFailsFatally_WhenTheGatewayForwards_ThenItStopsWithExitCode1AndKeepsWhatItAcknowledged()
    {
        using var host = Build(Config());
        var run = host.RunModuleAsync(TextWriter.Null);
        await WaitUntilAsync(() => Health().Code == HttpStatusCode.OK);
        cluster.SetDown(true);
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("monitor-1").WithCredentials("monitor-1", "pw").Build());

        var ack = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/monitor-1/vitals")
            .WithPayload(await File.ReadAllBytesAsync(Corpus.Bench("message-bedside-monitor.json"))).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        Assert.True(ack.IsSuccess);
        MockCluster.TriggerFatalError(host.Services.GetRequiredService<Confluent.Kafka.IProducer<string, byte[]>>(), Confluent.Kafka.ErrorCode.ClusterAuthorizationFailed);
        Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(60)));
        var stats = host.Services.GetRequiredService<MedTech.Edge.Buffer.GatewayStore>().Stats();
        Assert.True(stats.Inbox + stats.Outbox > 0, "the acknowledged message is still in the buffer");
    }

    [Theory]
    [InlineData("Hub:BootstrapServers", "kafka.hospital.example:9092", "Hub:BootstrapServers without a connection string")]
    [InlineData("Mqtt:PasswordFile", null, "no device could connect")]
    [InlineData("Mqtt:Devices:monitor-1", "pw", "Mqtt:Devices holds plain-text device passwords")]
    [InlineData("Mqtt:BindAddress", "0.0.0.0", "Mqtt:AllowPlainTextOnNetwork")]
    [InlineData("Buffer:MaxMessages", "0", "Buffer:MaxMessages")]
    [InlineData("Mqtt:MaxMessageBytes", "20000000", "Mqtt:MaxMessageBytes must be between 1 and 8388608")]
    public async Task GivenInvalidConfiguration_WhenTheGatewayStarts_ThenStartUpStopsNamingTheField(string key, string? value, string expected)
    {
        var config = Config();
        if (value is null)
        {
            config.Remove(key);
        }
        else
        {
            config[key] = value;
        }

        using var host = Build(config);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(ex.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task GivenAnInvalidDeviceMapping_WhenTheGatewayStarts_ThenStartUpStopsWithEveryErrorAndItsLine()
    {
        var config = Config();
        config["Gateway:DeviceMappingPath"] = Corpus.PathOf($"{Corpus.TemplateTests}/data_CollectionContentTemplateMixedValidity.json");
        using var host = Build(config);

        var ex = await Assert.ThrowsAsync<MedTech.Edge.Mapping.Templates.InvalidMappingException>(() => host.StartAsync());

        Assert.Contains("line 41", ex.Message);
    }

    /// <summary>The gateway on the numbered-readings mapping, any device welcome.</summary>
    private async Task<Dictionary<string, string?>> SeqConfigAsync()
    {
        var mapping = Path.Combine(folder, "seq.json");
        await File.WriteAllTextAsync(mapping, SeqMessages.Mapping);
        var config = Config();
        config["Gateway:DeviceMappingPath"] = mapping;
        config["Mqtt:DeviceTopicPattern"] = null;
        config["Mqtt:AllowAnonymous"] = "true";
        return config;
    }

    private Dictionary<string, string?> Config()
    {
        var passwords = Path.Combine(folder, "mqtt-passwords");
        MosquittoPasswd.Add(passwords, "monitor-1", "pw", create: true);
        return new()
        {
            ["Gateway:DeviceMappingPath"] = Mapping,
            ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt:Port"] = port.ToString(),
            ["Mqtt:PasswordFile"] = passwords,
            ["Mqtt:DeviceTopicPattern"] = "devices/{clientId}/",

            // The bench message is monitor-12's; monitor-1 logs in and relays it (identity binding would dead-letter it otherwise).
            ["Gateway:Identity:ReportsFor:monitor-1:0"] = "monitor-12",
            ["Hub:BootstrapServers"] = cluster.BootstrapServers,
            ["Hub:Topic"] = "measurements",
            ["Monitoring:Port"] = metricsPort.ToString(),
        };
    }

    private static IHost Build(Dictionary<string, string?> config)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(config);
        builder.AddEdgeGateway().AddHubForwarding();
        return builder.Build();
    }

    private List<byte[]> Consume(TimeSpan timeout, int measurements) =>
        Consume(timeout, received => received.Sum(m => MeasurementGroupJson.Deserialize(m).Measurements.Count) >= measurements);

    /// <summary>The measurement groups that reached the hub, unpacked from its messages.</summary>
    private List<byte[]> Consume(TimeSpan timeout, Func<List<byte[]>, bool> done) =>
        Groups(HubReader.Read(cluster.BootstrapServers, "measurements", received => done(Groups(received)), timeout));

    private static List<byte[]> Groups(List<Message<string, byte[]>> messages) =>
        messages.SelectMany(m => PackedMessage.Split(m.Value)).Select(g => g.ToArray()).ToList();

    private static Task WaitUntilAsync(Func<bool> condition) => Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(60));

    /// <summary>GET /health: status code, the overall status, and the body (component names and reasons).</summary>
    private (HttpStatusCode Code, string? Status, string Body) Health()
    {
        using var http = new HttpClient();
        using var response = http.GetAsync(new Uri($"http://127.0.0.1:{metricsPort}/health")).GetAwaiter().GetResult();
        var body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        return (response.StatusCode, System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("status").GetString(), body);
    }
}
