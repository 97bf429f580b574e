using System.Globalization;
using System.Net;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// The gateway module as a process of its own, its hub unreachable: /health names each component (buffer, hub, ingest,
/// mapping); a buffer that fills up is unhealthy by name, while the liveness endpoint, which only a stopped worker
/// fails, stays healthy (no restart loop on a full buffer or a hub outage).
/// </summary>
public sealed class GatewayHealthModuleTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-health-").FullName;
    private readonly int port = Ports.Free();
    private readonly int metricsPort = Ports.Free();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenAnUnreachableHub_WhenTheBufferFillsUp_ThenHealthNamesTheFullBufferAndTheHubWhileLivenessStaysHealthy()
    {
        const int capacity = 3;
        using var gateway = Start(capacity);

        var first = await EventuallyHealthAsync("/health", h => h.Components.ContainsKey("ingest") && h.Components["ingest"].Status == "Healthy", gateway);
        Assert.Equal("Healthy", first.Components["buffer"].Status);
        Assert.Equal("Healthy", first.Components["mapping"].Status);

        await PublishAsync(capacity);

        var full = await EventuallyHealthAsync("/health", h => h.Components["buffer"].Status == "Unhealthy", gateway);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, full.Code);
        Assert.Equal("Unhealthy", full.Status);
        Assert.StartsWith("full (messages)", full.Components["buffer"].Reason, StringComparison.Ordinal);
        // The alert reads the gauge, not /health: the computed check reaches it (published every 10 s).
        await Eventually.HoldsAsync(() => RawMetrics().Split('\n').Any(l => l.StartsWith("medtech_edge_health_status{", StringComparison.Ordinal)
            && l.Contains("component=\"buffer\"", StringComparison.Ordinal) && l.EndsWith(" 2", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), Metrics);
        Assert.Equal("Degraded", (await EventuallyHealthAsync("/health", h => h.Components["hub"].Status == "Degraded", gateway)).Components["hub"].Status);

        var ready = await HealthAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Code);
        Assert.Equal("Unhealthy", ready.Components["buffer"].Status);

        var live = await HealthAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.Code);
        Assert.Equal("Healthy", live.Status);
        Assert.False(live.Components.ContainsKey("buffer"));
    }

    private ModuleProcess Start(int capacity)
    {
        File.Copy(Corpus.Bench("device-mapping-calculated-jsonpath.json"), Path.Combine(folder, "devicecontent.json"), overwrite: true);
        return new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, new Dictionary<string, string>
        {
            ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
            ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
            ["Buffer__MaxMessages"] = capacity.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__AllowAnonymous"] = "true",
            // One test client fills the whole buffer (by default one sender may hold 5 % of it).
            ["Mqtt__DeviceQuota__BufferShare"] = "1",
            // Nothing listens there: the outbox keeps every group, so the buffer fills.
            ["Hub__BootstrapServers"] = $"127.0.0.1:{Ports.Free()}",
            ["Hub__Topic"] = "measurements",
            ["Hub__DeliveryTimeout"] = "00:00:03",
            ["Monitoring__Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
            ["Monitoring__BindAddress"] = "127.0.0.1",
        });
    }

    private async Task PublishAsync(int count)
    {
        var message = await File.ReadAllTextAsync(Corpus.Bench("message-bedside-monitor.json"));
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("health-client").Build());
        for (var i = 0; i < count; i++)
        {
            // QoS 1: acknowledged once committed to the buffer.
            // A reading a second apart each, so that no two are one.
            var payload = message.Replace("10:00:00.000Z", $"10:00:{i:00}.000Z", StringComparison.Ordinal);
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/health/vitals").WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        await client.DisconnectAsync();
    }

    private async Task<HealthAnswer> EventuallyHealthAsync(string path, Func<HealthAnswer, bool> condition, ModuleProcess gateway)
    {
        HealthAnswer? last = null;
        await Eventually.HoldsAsync(() =>
        {
            Assert.False(gateway.Process.HasExited, "the gateway exited: " + string.Join("\n", gateway.Output));
            last = HealthAsync(path).GetAwaiter().GetResult();
            return last is { Components.Count: > 0 } && condition(last);
        }, TimeSpan.FromSeconds(60), () => (last?.Body ?? "no answer") + "\n" + Metrics());
        return last!;
    }

    private string RawMetrics()
    {
        using var http = new HttpClient();
        try
        {
            return http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics")).GetAwaiter().GetResult();
        }
        catch (HttpRequestException)
        {
            return "no metrics";
        }
    }

    private string Metrics()
    {
        var text = RawMetrics();

        return string.Join('\n', text.Split('\n').Where(l => !l.StartsWith('#') && (l.Contains("buffer", StringComparison.Ordinal) || l.Contains("messages_", StringComparison.Ordinal)) && !l.EndsWith(" 0", StringComparison.Ordinal)));
    }

    private Task<HealthAnswer> HealthAsync(string path) => HealthAnswer.GetAsync(metricsPort, path);
}
