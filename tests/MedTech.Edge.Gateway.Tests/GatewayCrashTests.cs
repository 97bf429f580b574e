using System.Net.Sockets;
using System.Text;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Durability through a real crash: the gateway module runs as its own process, a device publishes continuously
/// with QoS 1, the gateway is killed with SIGKILL mid-stream and restarted; every message the device got a PUBACK
/// for must reach the hub (duplicates allowed, loss not).
/// </summary>
public sealed class GatewayCrashTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-crash-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();
    private ModuleProcess? gateway;
    private Mosquitto? external;

    public GatewayCrashTests() => cluster.CreateTopic("measurements", 4);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public Task GivenAPublishingDevice_WhenTheGatewayIsKilledAndRestarted_ThenEveryAcknowledgedMessageReachesTheHub() => KillAndRestartAsync(null);

    /// <summary>External-broker mode: the device's PUBACK comes from Mosquitto, and the gateway acknowledges to Mosquitto only after its commit.</summary>
    [Fact]
    public async Task GivenADevicePublishingToMosquitto_WhenTheGatewayIsKilledAndRestarted_ThenEveryMessageMosquittoAcceptedReachesTheHub()
    {
        using var mosquitto = new Mosquitto();
        await KillAndRestartAsync(mosquitto);
    }

    private async Task KillAndRestartAsync(Mosquitto? external)
    {
        await File.WriteAllTextAsync(Path.Combine(folder, "devicecontent.json"), SeqMessages.Mapping);
        var acknowledged = new List<int>();
        using var stop = new CancellationTokenSource();
        this.external = external;
        gateway = StartGateway();
        if (external is not null)
        {
            // Mosquitto queues for the gateway's session only once it has subscribed.
            await WaitUntilAsync(() => gateway.Output.Any(line => line.Contains("Connected to the external MQTT broker", StringComparison.Ordinal)), TimeSpan.FromSeconds(30));
        }

        var publisher = Task.Run(() => PublishAsync(acknowledged, stop.Token));
        try
        {
            await WaitUntilAsync(() => acknowledged.Count >= 200, TimeSpan.FromSeconds(30));
            await gateway.KillAsync();
            var atKill = acknowledged.Count;
            gateway.Dispose();
            gateway = StartGateway();
            await WaitUntilAsync(() => acknowledged.Count >= atKill + 200, TimeSpan.FromSeconds(30));
        }
        finally
        {
            await stop.CancelAsync();
            await publisher;
        }

        var delivered = await ConsumeAsync(acknowledged.ToHashSet(), TimeSpan.FromSeconds(60));
        await gateway.KillAsync();
        gateway.Dispose();

        var missing = acknowledged.Except(delivered).ToList();
        Assert.True(acknowledged.Count >= 400, $"only {acknowledged.Count} acknowledged");
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged messages never reached the hub, e.g. {string.Join(",", missing.Take(10))}");
    }

    private ModuleProcess StartGateway() => new("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, new Dictionary<string, string>(external is null ? [] :
    [
        new("Mqtt__Mode", "External"),
        new("Mqtt__External__Host", "127.0.0.1"),
        new("Mqtt__External__Port", external.Port.ToString()),
        new("Mqtt__External__UseTls", "false"),
    ])
    {
        ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
        ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
        ["Mqtt__Port"] = port.ToString(),
        ["Mqtt__AllowAnonymous"] = "true",

        // The publisher sends as fast as it can (a flood by the quota's measure); this test is about durability.
        ["Mqtt__DeviceQuota__RatePerSecond"] = "0",
        ["Hub__BootstrapServers"] = cluster.BootstrapServers,
        ["Hub__Topic"] = "measurements",
        ["Logging__LogLevel__Default"] = "Warning",
        ["Logging__LogLevel__MedTech.Edge.Mqtt"] = "Information",
        ["Monitoring__Port"] = "0",
    });

    /// <summary>Publishes seq 0, 1, 2, ... with QoS 1; a seq counts as acknowledged only when its PUBACK came back.</summary>
    private async Task PublishAsync(List<int> acknowledged, CancellationToken cancellationToken)
    {
        var seq = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            using var client = new MqttClientFactory().CreateMqttClient();
            try
            {
                await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", external?.Port ?? port).WithClientId("monitor-1")
                    .WithTimeout(TimeSpan.FromSeconds(2)).Build(), cancellationToken);
                while (!cancellationToken.IsCancellationRequested)
                {
                    var payload = SeqMessages.Payload("monitor-1", seq);
                    var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/monitor-1/seq")
                        .WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken);
                    if (result.IsSuccess)
                    {
                        lock (acknowledged)
                        {
                            acknowledged.Add(seq);
                        }
                    }

                    seq++;
                }
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The gateway is down (killed or restarting): the unacknowledged seq is simply not counted.
                seq++;
                await Task.Delay(100, CancellationToken.None);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: whatever was in flight is not counted.
            }
        }
    }

    private Task<HashSet<int>> ConsumeAsync(HashSet<int> expected, TimeSpan timeout) => Task.Run(() =>
    {
        var seen = new HashSet<int>();
        HubReader.Read(cluster.BootstrapServers, "measurements", received =>
        {
            seen = received.SelectMany(m => PackedMessage.Split(m.Value)).SelectMany(g => MeasurementGroupJson.Deserialize(g.Span).Measurements).Select(SeqMessages.SeqOf).ToHashSet();
            return expected.IsSubsetOf(seen);
        }, timeout);
        return seen;
    });

    private Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout) =>
        Eventually.HoldsAsync(condition, timeout, () => "waiting for the publisher; gateway said: " + string.Join("\n", gateway?.Output.TakeLast(20) ?? []));
}
