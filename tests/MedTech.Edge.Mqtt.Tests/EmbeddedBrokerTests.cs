using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The embedded broker with real MQTTnet clients and a real LiteDB buffer.</summary>
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class EmbeddedBrokerTests : IAsyncLifetime
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-mqtt-").FullName;
    private CancellationTokenSource stop = new();
    private readonly IngestMetrics metrics = new();
    private GatewayStore store = null!;
    private EmbeddedBroker broker = null!;
    private Task commits = Task.CompletedTask;
    private MqttIngestOptions options = null!;

    public Task InitializeAsync()
    {
        var passwords = Path.Combine(folder, "passwords");
        MosquittoPasswd.Add(passwords, "monitor-1", "pw-1", create: true);
        MosquittoPasswd.Add(passwords, "monitor-2", "pw-2");
        return StartAsync(new MqttIngestOptions
        {
            Port = Ports.Free(),
            PasswordFile = passwords,
            DeviceTopicPattern = "devices/{clientId}/",
            MaxMessageBytes = 1024,
        }, maxMessages: 1000);
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        metrics.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task GivenAQos1Publish_WhenThePubAckArrives_ThenTheMessageIsAlreadyInTheBuffer(MqttProtocolVersion version)
    {
        using var client = await ConnectAsync("monitor-1", "pw-1", version);

        var message = new MqttApplicationMessageBuilder().WithTopic("devices/monitor-1/vitals")
            .WithPayload("{\"hr\":72}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (version == MqttProtocolVersion.V500)
        {
            message = message.WithUserProperty("schema", "v2"u8.ToArray().AsMemory());
        }

        var result = await client.PublishAsync(message.Build());

        Assert.True(result.IsSuccess);
        var stored = Assert.Single(store.ReadInbox(10));
        Assert.Equal(("monitor-1", "devices/monitor-1/vitals", "{\"hr\":72}"), (stored.ClientId, stored.Topic, Encoding.UTF8.GetString(stored.Payload.Span)));
        if (version == MqttProtocolVersion.V500)
        {
            Assert.Equal("v2", stored.Properties["schema"]);
        }
    }

    [Fact]
    public async Task GivenAFullBuffer_WhenADevicePublishes_ThenItGetsNoAcknowledgementAndItsMessageIsStoredOnceThereIsRoom()
    {
        await StopAsync();
        await StartAsync(options, maxMessages: 1);
        using var first = await ConnectAsync("monitor-1", "pw-1");
        await first.PublishAsync(Message("devices/monitor-1/v", "1"));

        using var second = await ConnectAsync("monitor-2", "pw-2");
        await Assert.ThrowsAnyAsync<Exception>(() => second.PublishAsync(Message("devices/monitor-2/v", "2")));
        Assert.Single(store.ReadInbox(10));

        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [], []);
        using var retry = await ConnectAsync("monitor-2", "pw-2");
        Assert.True((await retry.PublishAsync(Message("devices/monitor-2/v", "2"))).IsSuccess);
        Assert.Equal("2", Encoding.UTF8.GetString(Assert.Single(store.ReadInbox(10)).Payload.Span));
    }

    [Theory]
    [InlineData("devices/monitor-1/v", 2000, "PayloadFormatInvalid")]
    [InlineData("devices/monitor-2/v", 10, "NotAuthorized")]
    public async Task GivenAnOversizedMessageOrAnotherDevicesTopic_WhenPublished_ThenItIsRefusedAndNotStored(string topic, int size, string expected)
    {
        using var client = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);

        var result = await client.PublishAsync(Message(topic, new string('x', size)));

        Assert.Equal(expected, result.ReasonCode.ToString());
        Assert.Empty(store.ReadInbox(10));
    }

    [Theory]
    [InlineData("devices/monitor-1/v", 2000)]
    [InlineData("devices/monitor-2/v", 10)]
    public async Task GivenAnMqtt311Client_WhenItsPublishIsRefused_ThenTheConnectionClosesWithoutPubAckAndAnotherDevicesMessageIsStored(string topic, int size)
    {
        using var client = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V311);

        // MQTT 3.1.1 has no negative PUBACK: a PUBACK would tell the device the message is stored.
        await Assert.ThrowsAnyAsync<Exception>(() => client.PublishAsync(Message(topic, new string('x', size))));
        using var other = await ConnectAsync("monitor-2", "pw-2", MqttProtocolVersion.V311);
        Assert.True((await other.PublishAsync(Message("devices/monitor-2/v", "good"))).IsSuccess);

        Assert.Equal("good", Encoding.UTF8.GetString(Assert.Single(store.ReadInbox(10)).Payload.Span));
        Assert.Equal((2, 1), (metrics.Received, metrics.Committed));
    }

    [Theory]
    [InlineData("mqttv311", true)]
    [InlineData("mqttv5", false)]
    public async Task GivenMosquittoPubWithQos1_WhenItsMessageIsOversized_ThenItIsNotAcknowledgedAsStored(string version, bool connectionLost)
    {
        var (exit, _) = await MosquittoPubAsync(version, "monitor-1", "devices/monitor-1/v", new string('x', 2000));

        // 3.1.1: the connection is lost before a PUBACK (mosquitto_pub fails); 5.0: a negative PUBACK, after which
        // mosquitto_pub 2.0.11 still exits 0.
        Assert.Equal(connectionLost, exit != 0);
        Assert.Empty(store.ReadInbox(10));
        Assert.Equal((1, 0), (metrics.Received, metrics.Committed));
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task GivenMosquittoPubWithAnEmptyClientId_WhenItPublishes_ThenTheBrokerAssignsOneAndStoresTheMessage(string version)
    {
        var (exit, error) = await MosquittoPubAsync(version, "", "devices/monitor-1/v", "{\"hr\":72}");

        Assert.True(exit == 0, error);
        var stored = Assert.Single(store.ReadInbox(10));
        Assert.Equal(("monitor-1", "{\"hr\":72}"), (stored.ClientId, Encoding.UTF8.GetString(stored.Payload.Span)));
    }

    [Fact]
    public async Task GivenAnAnonymousMqtt311ClientWithAnEmptyClientId_WhenItPublishes_ThenItGetsAUniqueAssignedId()
    {
        await StopAsync();
        await StartAsync(new MqttIngestOptions { Port = Ports.Free(), AllowAnonymous = true, MaxMessageBytes = 1024 }, maxMessages: 1000);

        var (exit, error) = await MosquittoPubAsync("mqttv311", "", "ward/x", "a", credentials: false);
        var (again, _) = await MosquittoPubAsync("mqttv311", "", "ward/x", "b", credentials: false);

        Assert.True(exit == 0 && again == 0, error);
        var stored = store.ReadInbox(10);
        Assert.Equal(2, stored.Count);
        Assert.All(stored, m => Assert.StartsWith("auto-", m.ClientId, StringComparison.Ordinal));
        Assert.NotEqual(stored[0].ClientId, stored[1].ClientId);
    }

    /// <summary>Debian's mosquitto_pub (package mosquitto-clients), QoS 1, as monitor-1; returns its exit code and stderr.</summary>
    private async Task<(int Exit, string Error)> MosquittoPubAsync(string version, string clientId, string topic, string payload, bool credentials = true)
    {
        Assert.True(File.Exists("/usr/bin/mosquitto_pub"), "mosquitto_pub is not installed: apt-get install mosquitto-clients.");
        var start = new System.Diagnostics.ProcessStartInfo("/usr/bin/mosquitto_pub") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", $"{options.Port}", "-V", version, "-q", "1", "-t", topic, "-m", payload })
        {
            start.ArgumentList.Add(arg);
        }

        if (clientId.Length > 0)
        {
            // Without -i, mosquitto_pub 2.0 sends an empty client id (-i "" is refused by mosquitto_pub itself).
            start.ArgumentList.Add("-i");
            start.ArgumentList.Add(clientId);
        }

        if (credentials)
        {
            foreach (var arg in new[] { "-u", "monitor-1", "-P", "pw-1" })
            {
                start.ArgumentList.Add(arg);
            }
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var error = await process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, error);
    }

    [Theory]
    [InlineData("monitor-1", "wrong")]
    [InlineData("monitor-1", null)]
    [InlineData("someone-else", "pw-1")]
    public async Task GivenBadCredentials_WhenConnecting_ThenTheBrokerRefuses(string clientId, string? password)
    {
        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(clientId, password, userName: password is null ? null : "monitor-1"));
    }

    [Fact]
    public async Task GivenTheTlsPort_WhenADeviceConnectsAndPinsTheBrokerCertificate_ThenItsPublishIsStored()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(folder, "broker.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test"));
        await StopAsync();
        options.TlsPort = Ports.Free();
        options.CertificatePath = pfx;
        options.CertificatePassword = "test";
        await StartAsync(options, maxMessages: 1000);
        var thumbprint = certificate.GetCertHashString();

        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.TlsPort).WithClientId("monitor-1")
            .WithCredentials("monitor-1", "pw-1")
            .WithTlsOptions(tls => tls.UseTls().WithCertificateValidationHandler(e => e.Certificate.GetCertHashString() == thumbprint)).Build());
        await client.PublishAsync(Message("devices/monitor-1/v", "tls"));

        Assert.Equal("tls", Encoding.UTF8.GetString(Assert.Single(store.ReadInbox(10)).Payload.Span));
    }

    private async Task StartAsync(MqttIngestOptions ingest, long maxMessages)
    {
        options = ingest;
        var buffer = new BufferOptions { Path = Path.Combine(folder, $"gateway-{Guid.NewGuid():N}.db"), MaxMessages = maxMessages, CommitWindow = TimeSpan.Zero };
        store = new GatewayStore(buffer);
        var writer = new InboxWriter(store, buffer);
        stop = new CancellationTokenSource();
        commits = writer.RunAsync(stop.Token);
        broker = new EmbeddedBroker(ingest, writer, metrics, NullLogger<EmbeddedBroker>.Instance);
        await broker.StartAsync();
    }

    private async Task StopAsync()
    {
        await broker.DisposeAsync();
        await stop.CancelAsync();
        await commits;
        stop.Dispose();
        store.Dispose();
    }

    private async Task<IMqttClient> ConnectAsync(string clientId, string? password, MqttProtocolVersion version = MqttProtocolVersion.V311, string? userName = "")
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var builder = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.Port).WithClientId(clientId).WithProtocolVersion(version)
            .WithTimeout(TimeSpan.FromSeconds(5));
        if (password is not null)
        {
            builder = builder.WithCredentials(userName == "" ? clientId : userName, password);
        }

        try
        {
            var result = await client.ConnectAsync(builder.Build());
            return result.ResultCode == MqttClientConnectResultCode.Success ? client : throw new InvalidOperationException($"Refused: {result.ResultCode}");
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
}
