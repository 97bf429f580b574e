using MedTech.Edge.Mapping.Normalization;
using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// No crash loop, through real process deaths: the gateway module runs as its own process with the test-only fault
/// hook (<see cref="TestFaults"/>) set to end the process whenever it normalizes one payload. That message kills it
/// once in a batch and once alone; the third start quarantines it as Poison and the pipeline goes on.
/// </summary>
public sealed class PoisonCrashTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-poison-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();

    public PoisonCrashTests() => cluster.CreateTopic("measurements", 4);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenAMessageThatKillsTheProcess_WhenItHasKilledItTwice_ThenTheThirdStartQuarantinesItAsPoisonAndGoodReadingsFlow()
    {
        await File.WriteAllTextAsync(Path.Combine(folder, "devicecontent.json"), SeqMessages.Mapping);
        var poison = SeqMessages.Payload("bed-9", 666);
        var environment = Environment(TestFaults.Sha256(Encoding.UTF8.GetBytes(poison)));

        using (var first = new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, environment))
        {
            Assert.True(await PublishAsync("bed-1", SeqMessages.Payload("bed-1", 1)));
            // Its PUBACK may or may not come out before the process dies; that it dies shows it was committed.
            await PublishAsync("bed-9", poison);
            await ExitedAsync(first, "the first start (dies in a batch)");
        }

        using (var second = new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, environment))
        {
            await ExitedAsync(second, "the second start (dies retrying it alone)");
        }

        using var third = new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, environment);
        Assert.True(await PublishAsync("bed-1", SeqMessages.Payload("bed-1", 2)));
        var seen = await ConsumeAsync([1, 2], TimeSpan.FromSeconds(60));
        Assert.False(third.Process.HasExited, "the third start keeps running; it said: " + string.Join("\n", third.Output.TakeLast(20)));
        await third.KillAsync();

        Assert.Superset(new HashSet<int> { 1, 2 }, seen);
        Assert.DoesNotContain(666, seen);
        Assert.Contains(third.Output, line => line.Contains("dead-lettered as Poison", StringComparison.Ordinal));
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });
        var deadLetter = Assert.Single(store.ListDeadLetters());
        Assert.Equal(ErrorCodes.Poison, deadLetter.Code);
        Assert.Equal(poison, Encoding.UTF8.GetString(deadLetter.Message.Payload.Span));
        Assert.Equal(0, store.Stats().Inbox);
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
    }

    private Dictionary<string, string> Environment(string crashHash) => new()
    {
        [TestFaults.EnableVariable] = "1",
        [TestFaults.CrashVariable] = crashHash,
        ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
        ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
        ["Mqtt__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Mqtt__AllowAnonymous"] = "true",
        ["Hub__BootstrapServers"] = cluster.BootstrapServers,
        ["Hub__Topic"] = "measurements",
        ["Logging__LogLevel__Default"] = "Warning",
        ["Monitoring__Port"] = "0",
    };

    /// <summary>Publishes with QoS 1 once the broker listens; returns whether the PUBACK came (the message is committed).</summary>
    private async Task<bool> PublishAsync(string device, string payload)
    {
        IMqttClient? client = null;
        await Eventually.HoldsAsync(() =>
        {
            client?.Dispose();
            client = new MqttClientFactory().CreateMqttClient();
            try
            {
                client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(device).WithTimeout(TimeSpan.FromSeconds(2)).Build())
                    .GetAwaiter().GetResult();
                return true;
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60));
        using (client)
        {
            try
            {
                var ack = await client!.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{device}/seq").WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                return ack.IsSuccess;
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // The process died after the commit and before its PUBACK went out (the poison message can do that).
                return false;
            }
        }
    }

    private static async Task ExitedAsync(ModuleProcess module, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await module.Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{what} did not die on the poison message; it said: " + string.Join("\n", module.Output.TakeLast(20)));
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
}
