using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The external-broker mode against a real Mosquitto: envelope from the topic, persistent session, oversized messages.</summary>
public sealed class ExternalBrokerClientTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-external-").FullName;
    private readonly Mosquitto mosquitto = new();
    private readonly IngestMetrics metrics = new();

    public void Dispose()
    {
        metrics.Dispose();
        mosquitto.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenADeviceTopic_WhenAMessageArrives_ThenItIsStoredWithTheDeviceFromTheTopicAndItsUserProperties()
    {
        await using var gateway = await StartAsync();
        using var device = await ConnectDeviceAsync();

        await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-7/vitals").WithPayload("{\"hr\":72}")
            .WithUserProperty("ward", "icu"u8.ToArray().AsMemory()).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        var stored = await Eventually(gateway.Store, 1);
        Assert.Equal("bed-7", stored[0].ClientId);
        Assert.True(stored[0].Authenticated);
        Assert.Equal("devices/bed-7/vitals", stored[0].Topic);
        Assert.Equal("icu", stored[0].Properties["ward"]);
        Assert.Equal("{\"hr\":72}", Encoding.UTF8.GetString(stored[0].Payload.Span));
    }

    [Fact]
    public async Task GivenTheGatewayAway_WhenDevicesPublish_ThenItsPersistentSessionDeliversEverythingWhenItReturns()
    {
        await (await StartAsync()).DisposeAsync();
        using var device = await ConnectDeviceAsync();
        foreach (var i in Enumerable.Range(0, 50))
        {
            Assert.True((await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-1/seq").WithPayload($"{i}")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())).IsSuccess);
        }

        await using var gateway = await StartAsync();
        var stored = await Eventually(gateway.Store, 50);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"{i}"), stored.Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
    }

    [Fact]
    public async Task GivenAnOversizedMessage_WhenItArrives_ThenItIsADeadLetterOfItsSizeHashAndFirstBytesAndTheNextOneIsStored()
    {
        var payload = Encoding.UTF8.GetBytes("{\"hr\":" + new string('9', 200_000) + "}");
        await using (var gateway = await StartAsync(maxMessageBytes: 100))
        {
            using var device = await ConnectDeviceAsync();
            await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-1/x").WithPayload(payload)
                .WithUserProperty("ward", "v"u8.ToArray().AsMemory()).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            using var other = await ConnectDeviceAsync("bed-2");
            await other.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-2/x").WithPayload("small").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

            var stored = await Eventually(gateway.Store, 1);
            Assert.Equal("small", Encoding.UTF8.GetString(Assert.Single(stored).Payload.Span));
            var letter = Assert.Single(gateway.Store.ListDeadLetters());
            Assert.Equal(GatewayStore.DeviceMessageTooLarge, letter.Code);
            Assert.Equal(("bed-1", "devices/bed-1/x", 0), (letter.Message.ClientId, letter.Message.Topic, letter.Message.Payload.Length));
            Assert.Contains($"{payload.Length} bytes", letter.Reason, StringComparison.Ordinal);
            Assert.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(payload)), letter.Reason, StringComparison.Ordinal);
            Assert.Contains(Convert.ToHexStringLower(payload.AsSpan(0, 64)), letter.Reason, StringComparison.Ordinal);
            Assert.True(letter.Reason.Length < 400);
            Assert.Equal((2, 1, 1), (metrics.Received, metrics.Committed, metrics.DeadLettered));
        }

        // Acknowledged to Mosquitto once the dead letter was committed: the session does not deliver it again.
        await using var restarted = await StartAsync(maxMessageBytes: 100);
        using var probe = await ConnectDeviceAsync("bed-3");
        await probe.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-3/x").WithPayload("probe").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await Eventually(restarted.Store, 2);
        Assert.Single(restarted.Store.ListDeadLetters());
    }

    private async Task<Gateway> StartAsync(int maxMessageBytes = 256 * 1024)
    {
        var buffer = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), CommitWindow = TimeSpan.Zero };
        var options = new MqttIngestOptions
        {
            Mode = IngestMode.External,
            DeviceTopicPattern = "devices/{clientId}/",
            MaxMessageBytes = maxMessageBytes,
            External = new ExternalBrokerOptions { Host = "127.0.0.1", Port = mosquitto.Port, UseTls = false },
        };
        Assert.Empty(options.Validate());
        var gateway = new Gateway(new GatewayStore(buffer), buffer);
        gateway.Client = new ExternalBrokerClient(options, gateway.Writer, gateway.Store, metrics, NullLogger<ExternalBrokerClient>.Instance);
        await gateway.Client.StartAsync();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); !gateway.Client.IsSubscribed; await Task.Delay(50))
        {
            Assert.True(DateTime.UtcNow < deadline, "the gateway did not subscribe");
        }

        return gateway;
    }

    private async Task<IMqttClient> ConnectDeviceAsync(string clientId = "bed-1")
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId(clientId).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        return client;
    }

    private static async Task<IReadOnlyList<InboxMessage>> Eventually(GatewayStore store, int count)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(15); store.ReadInbox(1000).Count < count; await Task.Delay(50))
        {
            Assert.True(DateTime.UtcNow < deadline, $"{store.ReadInbox(1000).Count} of {count} messages stored");
        }

        await Task.Delay(200);
        return store.ReadInbox(1000);
    }

    /// <summary>A store, its group-commit loop and the external-broker client, stopped in the gateway's order.</summary>
    private sealed class Gateway : IAsyncDisposable
    {
        private readonly CancellationTokenSource stop = new();
        private readonly Task commits;

        public Gateway(GatewayStore store, BufferOptions buffer)
        {
            Store = store;
            Writer = new InboxWriter(store, buffer);
            commits = Writer.RunAsync(stop.Token);
        }

        public GatewayStore Store { get; }

        public InboxWriter Writer { get; }

        public ExternalBrokerClient Client { get; set; } = null!;

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await stop.CancelAsync();
            await commits;
            stop.Dispose();
            Store.Dispose();
        }
    }
}
