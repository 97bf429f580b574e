using System.Globalization;
using System.Net.Sockets;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Issue 19's connection flood against the gateway module as its own process (configured by environment variables as
/// at deployment): twenty connections announce 256 MB packets, before and after logging in, while a monitor keeps
/// publishing. The module's memory is read from its own /metrics, and the monitor's readings must reach the hub.
/// </summary>
public sealed class DevicePortModuleTests(ITestOutputHelper output) : IDisposable
{
    private const int Attackers = 20;
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-port-module-").FullName;
    private readonly MockCluster cluster = CreateCluster();
    private readonly int port = Ports.Free();
    private readonly int metricsPort = Ports.Free();

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenTwentyConnectionsAnnouncing256MBPackets_WhenTheyHitTheModule_ThenItsMemoryStaysNearIdleAndTheMonitorsReadingsReachTheHub()
    {
        await File.WriteAllTextAsync(Path.Combine(folder, "devicecontent.json"), SeqMessages.Mapping);
        using var gateway = new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, Environment());
        await Eventually.HoldsAsync(() => Ports.Listening(port) && Ports.Listening(metricsPort), TimeSpan.FromSeconds(60), () => string.Join('\n', gateway.Output));

        // Listening could be another test's server on a port that was free a moment ago: this module must be the one running.
        Assert.False(gateway.Process.HasExited, string.Join('\n', gateway.Output));
        using var monitor = new MqttClientFactory().CreateMqttClient();
        await monitor.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("port-monitor").WithCredentials("port-monitor", "pw").Build());
        var seq = 0;
        async Task PublishAsync()
        {
            var result = await monitor.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/port-monitor/seq")
                .WithPayload(SeqMessages.Payload("port-monitor", seq)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, $"seq {seq} refused: {result.ReasonCode}");
            seq++;
        }

        // Warm-up, so first-use allocations are not counted as growth.
        for (var i = 0; i < 20; i++)
        {
            await PublishAsync();
        }

        await AttackAsync(0, 2);
        var before = await MetricsAsync();

        var sockets = new List<Socket>();
        for (var i = 0; i < Attackers; i++)
        {
            sockets.AddRange(await AttackAsync(i, i + 1));
            await PublishAsync();
        }

        var after = await MetricsAsync();
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        // The runtime's own meter (System.Runtime), which the module exports with its instruments: every byte allocated, freed or not.
        const string Allocated = "dotnet_gc_heap_total_allocated_bytes";
        Assert.True(Value(before, Allocated) > 0, $"{Allocated} is missing from /metrics");
        var allocated = Value(after, Allocated) - Value(before, Allocated);
        output.WriteLine($"GC heap after the last collection: idle {Value(before, "dotnet_gc_last_collection_heap_size_bytes"):N0} B, attacked {Value(after, "dotnet_gc_last_collection_heap_size_bytes"):N0} B");
        output.WriteLine($"working set: idle {Value(before, "dotnet_process_memory_working_set_bytes"):N0} B, attacked {Value(after, "dotnet_process_memory_working_set_bytes"):N0} B");
        output.WriteLine($"allocated during the attack: {allocated:N0} B; monitor publishes acknowledged meanwhile: {Attackers}");

        // One honoured header is 256 MiB allocated; the attack's own cost and the monitor's 20 readings are far below 1 MiB.
        // The heap after the last collection may hold garbage not yet collected, hence 32 MiB (one generation-0 budget and more).
        Assert.InRange(allocated, 0, 64 * 1024 * 1024);
        Assert.InRange(Value(after, "dotnet_gc_last_collection_heap_size_bytes") - Value(before, "dotnet_gc_last_collection_heap_size_bytes"), double.MinValue, 32 * 1024 * 1024);
        Assert.Equal((double)(Attackers + 2), Value(after, "medtech_edge_gateway_connections_refused", "reason=\"packet_too_large\""));

        var delivered = Consume(seq);
        Assert.Equal(Enumerable.Range(0, seq).ToHashSet(), delivered);
    }

    /// <summary>Attackers <paramref name="from"/> to <paramref name="to"/>; even ones announce a 256 MB CONNECT, odd ones log in and announce a 256 MB PUBLISH.</summary>
    private async Task<List<Socket>> AttackAsync(int from, int to)
    {
        var sockets = new List<Socket>();
        for (var i = from; i < to; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            sockets.Add(socket);
            await socket.ConnectAsync("127.0.0.1", port);
            if (i % 2 == 0)
            {
                await socket.SendAsync(new byte[] { 0x10, 0xFF, 0xFF, 0xFF, 0x7F });
            }
            else
            {
                await socket.SendAsync(Connect($"attacker-{i}", $"pw-{i}"));
                var connAck = new byte[4];
                Assert.Equal(4, await socket.ReceiveAsync(connAck));
                Assert.Equal(0, connAck[3]);
                await socket.SendAsync(new byte[] { 0x32, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x02, (byte)'d', (byte)'/', 0x00, 0x01 });
            }

            try
            {
                // Trickling on, until the module closes the connection.
                await socket.SendAsync(new byte[1024]);
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
                Assert.Equal(0, await socket.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));
            }
            catch (SocketException)
            {
                // Reset by the module: closed, as expected.
            }
        }

        return sockets;
    }

    private static byte[] Connect(string clientId, string password)
    {
        var body = new List<byte> { 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0xC2, 0x00, 0x3C };
        foreach (var field in new[] { clientId, clientId, password })
        {
            body.AddRange([0x00, (byte)field.Length, .. System.Text.Encoding.ASCII.GetBytes(field)]);
        }

        return [0x10, (byte)body.Count, .. body];
    }

    private async Task<string> MetricsAsync()
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
    }

    /// <summary>The sum of a metric's samples in Prometheus text (counters may carry a _total suffix), optionally only those with a label.</summary>
    private static double Value(string text, string name, string? label = null) => text.Split('\n')
        .Where(line => !line.StartsWith('#') && (line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal)
            || line.StartsWith(name + "_total", StringComparison.Ordinal)))
        .Where(line => label is null || line.Contains(label, StringComparison.Ordinal))
        .Sum(line => double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture));

    private Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string>
        {
            ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
            ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__PasswordFile"] = MosquittoPasswd.Write(Path.Combine(folder, "mqtt-passwords"),
                Enumerable.Range(0, Attackers).Select(i => ($"attacker-{i}", $"pw-{i}")).Append(("port-monitor", "pw"))),
            ["Mqtt__DeviceTopicPattern"] = "devices/{clientId}/",
            ["Mqtt__DevicePort__MaxConnections"] = "50",
            ["Mqtt__DevicePort__ConnectTimeout"] = "00:00:05",
            ["Hub__BootstrapServers"] = cluster.BootstrapServers,
            ["Hub__Topic"] = "measurements",
            ["Monitoring__Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
        };
        return environment;
    }

    /// <summary>The readings' sequence numbers that reached the hub.</summary>
    private HashSet<int> Consume(int count)
    {
        var seqs = new HashSet<int>();
        HubReader.Read(cluster.BootstrapServers, "measurements", received =>
        {
            seqs = received.SelectMany(m => PackedMessage.Split(m.Value)).SelectMany(g => MeasurementGroupJson.Deserialize(g.Span).Measurements)
                .Select(SeqMessages.SeqOf).ToHashSet();
            return seqs.Count >= count;
        }, TimeSpan.FromSeconds(60));
        return seqs;
    }

    private static MockCluster CreateCluster()
    {
        var cluster = new MockCluster();
        cluster.CreateTopic("measurements", 4);
        return cluster;
    }
}
