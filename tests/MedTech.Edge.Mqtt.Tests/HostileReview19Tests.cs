using System.Net;
using System.Net.Sockets;
using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>
/// A hostile review of issue 19 (device identity and the device port): each test is a way a device or a host on the
/// ward LAN still speaks for another device or takes the gateway from the others, through the real embedded broker, real
/// MQTTnet clients or raw sockets, and a real LiteDB buffer.
/// </summary>
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class HostileReview19Tests : IAsyncLifetime
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile19-").FullName;
    private readonly IngestMetrics metrics = new();
    private readonly CancellationTokenSource stop = new();
    private GatewayStore? store;
    private EmbeddedBroker? broker;
    private Task commits = Task.CompletedTask;
    private MqttIngestOptions options = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (broker is not null)
        {
            await broker.DisposeAsync();
        }

        await stop.CancelAsync();
        await commits;
        stop.Dispose();
        store?.Dispose();
        metrics.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>
    /// The lead's known gap: with Mqtt:AllowAnonymous and a password file, a client without credentials may take a
    /// registered device's client id. MQTTnet then takes the device's session over (the real monitor is disconnected,
    /// and reconnecting only starts a tug of war), and what the anonymous client publishes is not bound.
    /// </summary>
    [Fact]
    public async Task GivenAnonymousAllowedBesideAPasswordFile_WhenAClientWithoutCredentialsUsesARegisteredDevicesId_ThenItIsRefusedAndTheDeviceStaysConnected()
    {
        await StartAsync(new DeviceQuotaOptions(), maxMessages: 1000, allowAnonymous: true);
        using var device = await ConnectAsync("monitor-1", "pw-1");

        using var impostor = new MqttClientFactory().CreateMqttClient();
        var result = await impostor.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.Port).WithClientId("monitor-1")
            .WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(5)).Build());

        Assert.NotEqual(MqttClientConnectResultCode.Success, result.ResultCode);
        Assert.True((await device.PublishAsync(Message("devices/monitor-1/v", "still me"))).IsSuccess);
    }

    /// <summary>
    /// The share of the buffer is a share of the inbox only (messages waiting for Normalize). On a ward whose uplink is
    /// down, which is what the buffer is for, Normalize keeps the inbox empty and the outbox grows: one device publishing
    /// within its share and rate fills the whole buffer, and every other bed is refused with buffer_full.
    /// </summary>
    [Fact]
    public async Task GivenTheUplinkIsDown_WhenOneDeviceKeepsPublishingWhileNormalizeDrainsTheInbox_ThenAnotherDeviceIsStillAcknowledged()
    {
        // 5 % of 100 messages: 5 per device; the rate is off so only the share binds.
        await StartAsync(new DeviceQuotaOptions { RatePerSecond = 0, BufferShare = 0.05 }, maxMessages: 100);
        using (var flooder = await ConnectAsync("monitor-1", "pw-1"))
        {
            for (var round = 0; round < 25; round++)
            {
                for (var i = 0; i < 5; i++)
                {
                    try
                    {
                        await flooder.PublishAsync(Message("devices/monitor-1/v", $"{round}.{i}"));
                    }
                    catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or InvalidOperationException or OperationCanceledException)
                    {
                        // Closed without a PUBACK: the buffer (or its share) refused; this is what the test is about.
                    }
                }

                // Normalize takes the inbox; the groups wait in the outbox, since Event Hubs cannot be reached.
                var held = store!.ReadInbox(100);
                if (held.Count > 0)
                {
                    store.CompleteNormalization([.. held.Select(m => m.Id)], [new OutboxEntry("monitor-1", Encoding.UTF8.GetBytes("{}"), DateTime.UtcNow)], []);
                }

                if (!flooder.IsConnected)
                {
                    break;
                }
            }
        }

        using var other = await ConnectAsync("monitor-2", "pw-2");
        Exception? refused = null;
        try
        {
            Assert.True((await other.PublishAsync(Message("devices/monitor-2/v", "another bed"))).IsSuccess);
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
        {
            refused = ex;
        }

        var stats = store!.Stats();
        Assert.True(refused is null, $"another device's publish was refused after monitor-1 alone filled the buffer ({stats.OutboxMessages} undelivered device messages of 100 are monitor-1's)");
    }

    /// <summary>
    /// The pending-connection cap is per address, so a host with several addresses (IP aliases on the ward LAN; here
    /// 127.0.0.2 to 127.0.0.5, all this machine) holds every place under Mqtt:DevicePort:MaxConnections with sockets
    /// that never send a CONNECT, renewed each ConnectTimeout, and a monitor with the right password cannot connect.
    /// </summary>
    [Fact]
    public async Task GivenOneHostWithSeveralAddresses_WhenEachAddressHoldsItsPendingConnections_ThenADeviceCanStillLogIn()
    {
        var port = new DevicePortOptions { MaxConnections = 8, MaxPendingConnectionsPerAddress = 2, ConnectTimeout = TimeSpan.FromMinutes(5) };
        await StartAsync(new DeviceQuotaOptions(), maxMessages: 1000, devicePort: port);
        var held = new List<Socket>();
        try
        {
            for (var host = 2; host <= 5; host++)
            {
                for (var i = 0; i < 2; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    held.Add(socket);
                    socket.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{host}"), 0));
                    await socket.ConnectAsync(IPAddress.Loopback, options.Port);
                }
            }

            // The broker admits in accept order: these eight were admitted (or refused) before the monitor's socket.
            using var device = await ConnectAsync("monitor-1", "pw-1");
            Assert.True(device.IsConnected);
        }
        finally
        {
            foreach (var socket in held)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// Whether a publish is bound is looked up by client id in a map the broker fills at CONNECT and empties when a
    /// connection of that id ends; a miss counts as anonymous (not bound). A device that logs in again while its old
    /// connection is ending (DISCONNECT on the old one, CONNECT on the new one, at the same moment) can have the old
    /// connection's end empty the entry the new login has just made, and its publishes on the new connection are then
    /// stored unbound: it may report readings under any device id.
    /// </summary>
    [Fact]
    public async Task GivenADeviceThatReconnectsWhileItsOldConnectionEnds_WhenItPublishes_ThenEveryStoredMessageIsStillBound()
    {
        await StartAsync(new DeviceQuotaOptions { RatePerSecond = 0 }, maxMessages: 100_000);
        for (var i = 0; i < 100; i++)
        {
            using var old = await ConnectAsync("monitor-1", "pw-1");
            using var next = new MqttClientFactory().CreateMqttClient();
            var login = next.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.Port).WithClientId("monitor-1")
                .WithCredentials("monitor-1", "pw-1").WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(5)).Build());
            try
            {
                await Task.WhenAll(old.DisconnectAsync(), login);
                await next.PublishAsync(Message("devices/monitor-1/v", $"{i}"));
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or MQTTnet.Adapter.MqttConnectingFailedException or InvalidOperationException or OperationCanceledException)
            {
                // The race can also end the new connection; what this test checks is how stored messages are bound.
            }
        }

        var unbound = store!.ReadInbox(1000).Count(m => !m.Authenticated);
        Assert.True(unbound == 0, $"{unbound} of 100 messages of a device logged in with its password were stored unbound");
    }

    /// <summary>A second CONNECT on a logged-in connection, as another device with its password, changes nothing it may publish for.</summary>
    [Fact]
    public async Task GivenALoggedInConnection_WhenItSendsASecondConnectAsAnotherDevice_ThenNothingIsStoredUnderTheOtherDevice()
    {
        await StartAsync(new DeviceQuotaOptions(), maxMessages: 1000);
        using var socket = await RawMqtt.OpenAsync(options.Port);
        Assert.True(await RawMqtt.LogInAsync(socket, "monitor-1", "pw-1"));

        var topic = Encoding.UTF8.GetBytes("devices/monitor-2/v");
        var payload = Encoding.UTF8.GetBytes("{\"deviceId\":\"monitor-2\"}");
        byte[] body = [(byte)(topic.Length >> 8), (byte)topic.Length, .. topic, 0x00, 0x01, .. payload];
        await RawMqtt.TrySendAsync(socket, [.. RawMqtt.Connect("monitor-2", "pw-2"), 0x32, .. RawMqtt.Length(body.Length), .. body]);
        await RawMqtt.ReceiveUntilClosedAsync(socket);

        Assert.DoesNotContain(store!.ReadInbox(100), m => m.ClientId == "monitor-2" || m.Topic.StartsWith("devices/monitor-2", StringComparison.Ordinal));
    }

    private async Task StartAsync(DeviceQuotaOptions quota, long maxMessages, bool allowAnonymous = false, DevicePortOptions? devicePort = null)
    {
        var passwords = Path.Combine(folder, "mqtt-passwords");
        MosquittoPasswd.Add(passwords, "monitor-1", "pw-1", create: true);
        MosquittoPasswd.Add(passwords, "monitor-2", "pw-2");
        options = new MqttIngestOptions
        {
            Port = Ports.Free(),
            PasswordFile = passwords,
            DeviceTopicPattern = "devices/{clientId}/",
            AllowAnonymous = allowAnonymous,
            DeviceQuota = quota,
            DevicePort = devicePort ?? new DevicePortOptions(),
        };
        var buffer = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxMessages = maxMessages, CommitWindow = TimeSpan.Zero };
        store = new GatewayStore(buffer);
        var writer = new InboxWriter(store, buffer);
        commits = writer.RunAsync(stop.Token);
        broker = new EmbeddedBroker(options, writer, metrics, NullLogger<EmbeddedBroker>.Instance,
            quota: new DeviceQuota(quota, store, buffer, NullLogger<DeviceQuota>.Instance));
        await broker.StartAsync();
    }

    private async Task<IMqttClient> ConnectAsync(string clientId, string password)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.Port).WithClientId(clientId)
            .WithCredentials(clientId, password).WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(5)).Build());
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return client;
    }

    private static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
}
