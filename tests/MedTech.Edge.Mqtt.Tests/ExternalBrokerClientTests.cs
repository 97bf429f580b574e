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
    public async Task GivenAnOversizedMessage_WhenItArrives_ThenItIsRefusedAndCountedAndTheNextOneIsStored()
    {
        await using var gateway = await StartAsync(maxMessageBytes: 100);
        using var device = await ConnectDeviceAsync();
        await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-1/x").WithPayload(new string('x', 500)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-1/x").WithPayload("small").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        var stored = await Eventually(gateway.Store, 1);
        Assert.Equal("small", Encoding.UTF8.GetString(Assert.Single(stored).Payload.Span));
        Assert.Equal(2, metrics.Received);
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
        gateway.Client = new ExternalBrokerClient(options, gateway.Writer, metrics, NullLogger<ExternalBrokerClient>.Instance);
        await gateway.Client.StartAsync();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); !gateway.Client.IsSubscribed; await Task.Delay(50))
        {
            Assert.True(DateTime.UtcNow < deadline, "the gateway did not subscribe");
        }

        return gateway;
    }

    private async Task<IMqttClient> ConnectDeviceAsync()
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId("bed-1").WithProtocolVersion(MqttProtocolVersion.V500).Build());
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
