using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MedTech.Edge.Buffer;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The embedded broker over a real LiteDB buffer, with MQTTnet clients and raw sockets for the device port's tests.</summary>
internal sealed class DevicePortHarness : IAsyncDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-port-").FullName;
    private readonly CancellationTokenSource stop = new();
    private readonly IngestMetrics metrics = new();
    private readonly MeterListener listener = new();
    private readonly List<string> connectionRefusals = [];
    private GatewayStore? store;
    private EmbeddedBroker? broker;
    private Task commits = Task.CompletedTask;

    public MqttIngestOptions Options { get; private set; } = new();

    public GatewayStore Store => store!;

    // One password file for every device-port test (mosquitto_passwd is a process start per user).
    private static readonly Lazy<string> Passwords = new(() => MosquittoPasswd.Write(
        Path.Combine(Directory.CreateTempSubdirectory("medtech-port-").FullName, "mqtt-passwords"), ("monitor-1", "pw-1"), ("monitor-2", "pw-2"), ("monitor-3", "pw-3")));

    /// <summary>A password-protected device port on a free port with these limits; monitor-1..3 log in with pw-1..3.</summary>
    public static MqttIngestOptions DeviceOptions(DevicePortOptions port) => new()
    {
        Port = Ports.Free(),
        PasswordFile = Passwords.Value,
        DeviceTopicPattern = "devices/{clientId}/",
        MaxMessageBytes = 1024,
        DevicePort = port,
    };

    public static async Task<DevicePortHarness> StartAsync(MqttIngestOptions options)
    {
        var harness = new DevicePortHarness { Options = options };
        harness.ListenForRefusals();
        var buffer = new BufferOptions { Path = Path.Combine(harness.folder, "gateway.db"), MaxMessages = 100_000, CommitWindow = TimeSpan.Zero };
        harness.store = new GatewayStore(buffer);
        var writer = new InboxWriter(harness.store, buffer);
        harness.commits = writer.RunAsync(harness.stop.Token);
        harness.broker = new EmbeddedBroker(options, writer, harness.metrics, NullLogger<EmbeddedBroker>.Instance);
        await harness.broker.StartAsync();
        return harness;
    }

    /// <summary>A self-signed broker certificate for the TLS port; returns the .pfx path (password "test") and the thumbprint.</summary>
    public static (string Path, string Thumbprint) BrokerCertificate(string folder)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = System.IO.Path.Combine(folder, $"broker-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pfx, "test"));
        return (pfx, certificate.GetCertHashString());
    }

    public async Task<IMqttClient> ConnectAsync(string clientId, string password, MqttProtocolVersion version = MqttProtocolVersion.V311, string? tlsThumbprint = null)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var builder = new MqttClientOptionsBuilder().WithClientId(clientId).WithCredentials(clientId, password).WithProtocolVersion(version)
            .WithTimeout(TimeSpan.FromSeconds(10));
        builder = tlsThumbprint is null
            ? builder.WithTcpServer("127.0.0.1", Options.Port)
            : builder.WithTcpServer("127.0.0.1", Options.TlsPort).WithTlsOptions(tls => tls.UseTls().WithCertificateValidationHandler(e => e.Certificate.GetCertHashString() == tlsThumbprint));
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

    /// <summary>Reasons of the connections this broker's device port closed so far (the <c>connections.refused</c> counter's label).</summary>
    public IReadOnlyList<string> ConnectionRefusals
    {
        get
        {
            lock (connectionRefusals)
            {
                return [.. connectionRefusals];
            }
        }
    }

    /// <summary>This harness's counter only (by instance): tests of other classes run their own brokers beside it.</summary>
    private void ListenForRefusals()
    {
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, metrics.ConnectionsRefused))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            lock (connectionRefusals)
            {
                connectionRefusals.Add((string)tags[0].Value!);
            }
        });
        listener.Start();
    }

    public static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    public IReadOnlyList<string> StoredPayloads() => [.. Store.ReadInbox(100_000).Select(m => Encoding.UTF8.GetString(m.Payload.Span))];

    public async ValueTask DisposeAsync()
    {
        if (broker is not null)
        {
            await broker.DisposeAsync();
        }

        await stop.CancelAsync();
        await commits;
        stop.Dispose();
        store?.Dispose();
        listener.Dispose();
        metrics.Dispose();
        Directory.Delete(folder, recursive: true);
    }
}

/// <summary>A device that speaks MQTT by hand: the bytes a hostile or broken client sends.</summary>
internal static class RawMqtt
{
    public static async Task<Socket> OpenAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync("127.0.0.1", port);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An MQTT 3.1.1 CONNECT with user name (= client id), password and a clean session.</summary>
    public static byte[] Connect(string clientId, string password)
    {
        var body = new List<byte> { 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0xC2, 0x00, 0x3C };
        foreach (var field in new[] { clientId, clientId, password })
        {
            var bytes = Encoding.UTF8.GetBytes(field);
            body.AddRange([(byte)(bytes.Length >> 8), (byte)bytes.Length, .. bytes]);
        }

        return [0x10, .. Length(body.Count), .. body];
    }

    /// <summary>Logs in and reads the CONNACK; true when the broker accepted.</summary>
    public static async Task<bool> LogInAsync(Socket socket, string clientId, string password)
    {
        await socket.SendAsync(Connect(clientId, password));
        var connAck = new byte[4];
        for (var read = 0; read < 4;)
        {
            var n = await socket.ReceiveAsync(connAck.AsMemory(read));
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return connAck is [0x20, 0x02, _, 0x00];
    }

    /// <summary>MQTT's variable byte integer.</summary>
    public static byte[] Length(int length)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(length % 128);
            length /= 128;
            bytes.Add(length > 0 ? (byte)(b | 0x80) : b);
        }
        while (length > 0);
        return [.. bytes];
    }

    /// <summary>Sends what it can of <paramref name="bytes"/>; a broker that has already closed the connection is no failure here.</summary>
    public static async Task TrySendAsync(Socket socket, byte[] bytes)
    {
        try
        {
            await socket.SendAsync(bytes);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>The broker closes the connection without having sent anything (no CONNACK, no PUBACK).</summary>
    public static async Task AssertClosedSilentlyAsync(Socket socket)
    {
        var received = await ReceiveUntilClosedAsync(socket);
        Assert.True(received is not null, "the broker left the connection open for a minute");
        Assert.Empty(received);
    }

    /// <summary>
    /// A new connection that sends <paramref name="bytes"/> is closed without a reply. The broker resets it at accept,
    /// which the client may already see while connecting.
    /// </summary>
    public static async Task AssertRefusedAsync(int port, byte[] bytes)
    {
        Socket socket;
        try
        {
            socket = await OpenAsync(port);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return;
        }

        using (socket)
        {
            await TrySendAsync(socket, bytes);
            await AssertClosedSilentlyAsync(socket);
        }
    }

    /// <summary>
    /// Waits until the broker closes the connection (end of stream or reset), reading and returning whatever it sent
    /// before; null if the connection is still open after a minute (a hang guard: every limit under test is seconds).
    /// </summary>
    public static async Task<byte[]?> ReceiveUntilClosedAsync(Socket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    return [.. received];
                }

                received.AddRange(buffer.AsSpan(0, n));
            }
        }
        catch (SocketException)
        {
            return [.. received];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
