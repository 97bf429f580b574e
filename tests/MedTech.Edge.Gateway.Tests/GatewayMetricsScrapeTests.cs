using System.Globalization;
using System.Text;
using MedTech.Edge.Gateway;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mqtt;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// <c>/metrics</c> of the gateway module as a process of its own (so no other test's host adds to its counters), read by
/// the strict exposition-format parser <see cref="PrometheusText"/> (no Prometheus parser package is served here): types,
/// names, seeded label values, and the pipeline's accounting equations on the scraped values.
/// </summary>
public sealed class GatewayMetricsScrapeTests : IDisposable
{
    private const string Prefix = "medtech_edge_gateway_";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-scrape-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();
    private readonly int metricsPort = Ports.Free();

    public GatewayMetricsScrapeTests() => cluster.CreateTopic("measurements", 4);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenValidInvalidAndOversizedMessages_WhenTheRunningModuleIsScraped_ThenSeriesAreTypedNamedAndTheAccountingHolds()
    {
        using var gateway = Start();
        const int valid = 5, notJson = 2, oversized = 1;
        await PublishAsync(valid, notJson, oversized);

        // Waits for the pipeline to settle (every committed message normalized or dead-lettered, the outbox sent), then
        // checks one scrape.
        IReadOnlyDictionary<string, PrometheusText.Family> families = new Dictionary<string, PrometheusText.Family>();
        await Eventually.HoldsAsync(() =>
        {
            families = Scrape();
            return Sum(families, "messages_normalized_total") + Sum(families, "messages_deadlettered_total", ("stage", "normalize")) == valid + notJson
                && Sum(families, "buffer_depth", ("collection", "outbox")) == 0 && Sum(families, "groups_forwarded_total") > 0;
        }, TimeSpan.FromSeconds(60), () => string.Join('\n', gateway.Output.TakeLast(20)));

        // Types and names: every counter sample ends in _total; gauges are gauges; no device id anywhere.
        Assert.All(families.Values.Where(f => f.Type == "counter").SelectMany(f => f.Samples), s => Assert.EndsWith("_total", s.Name, StringComparison.Ordinal));
        foreach (var counter in new[] { "messages_received", "messages_committed", "messages_refused", "messages_normalized", "messages_deadlettered", "groups_forwarded", "messages_dropped", "worker_faults", "connections_refused", "mapping_reloads" })
        {
            Assert.Equal("counter", Family(families, counter + "_total").Type);
        }

        foreach (var gauge in new[] { "buffer_depth", "buffer_oldest_unsent_seconds", "messages_pending_at_start" })
        {
            Assert.Equal("gauge", Family(families, gauge).Type);
        }

        Assert.DoesNotContain(families.Values.SelectMany(f => f.Samples).SelectMany(s => s.Labels.Values), v => v.Contains("monitor", StringComparison.Ordinal));

        // Seeded at 0: every reason code and worker has its series before anything happened to it.
        foreach (var reason in GatewayMetrics.NormalizeReasons)
        {
            Assert.Single(Family(families, "messages_deadlettered_total").Samples, s => s.Labels["reason"] == reason && s.Labels["stage"] == "normalize");
        }

        Assert.Equal(0, Sum(families, "messages_deadlettered_total", ("reason", ErrorCodes.Poison)));
        Assert.Equal(IngestMetrics.RefusalReasons.Order(), Family(families, "messages_refused_total").Samples.Select(s => s.Labels["reason"]).Order());
        Assert.Equal(GatewayMetrics.Workers.Order(), Family(families, "worker_faults_total").Samples.Select(s => s.Labels["worker"]).Order());
        Assert.Equal(GatewayMetrics.DropReasons.Order(), Family(families, "messages_dropped_total").Samples.Select(s => s.Labels["reason"]).Order());

        // The accounting equations (GatewayMetrics' remarks), on the scraped values.
        var received = Sum(families, "messages_received_total");
        var committed = Sum(families, "messages_committed_total");
        Assert.Equal(valid + notJson + oversized, received);
        Assert.Equal(oversized, Sum(families, "messages_refused_total", ("reason", "oversized")));
        Assert.Equal(received, committed + Sum(families, "messages_refused_total") + Sum(families, "messages_ingest_dead_lettered_total"));
        Assert.Equal(committed + Sum(families, "messages_pending_at_start"),
            Sum(families, "messages_normalized_total") + Sum(families, "messages_deadlettered_total", ("stage", "normalize"))
            + Sum(families, "buffer_depth", ("collection", "inbox")) + Sum(families, "messages_dropped_total", ("reason", "capacity")) + Sum(families, "messages_dropped_total", ("reason", "ttl_expiry")));
        Assert.Equal(notJson, Sum(families, "messages_deadlettered_total", ("reason", ErrorCodes.InvalidDataFormat)));
        Assert.Equal(notJson, Sum(families, "buffer_depth", ("collection", "deadletters")));
    }

    [Fact]
    public async Task GivenTheJsonConsoleFormatter_WhenTheModuleRunsAndStops_ThenEveryStdoutLineIsAJsonObject()
    {
        var gateway = Start();
        try
        {
            await PublishAsync(1, 1, 1);
            await Eventually.HoldsAsync(() => Sum(Scrape(), "messages_deadlettered_total") >= 1, TimeSpan.FromSeconds(60));
        }
        finally
        {
            // SIGTERM, as a container stop sends: the host's shutdown lines are logged too.
            using (var term = System.Diagnostics.Process.Start("kill", ["-TERM", gateway.Process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            await gateway.Process.WaitForExitAsync();
            gateway.Dispose();
        }

        Assert.NotEmpty(gateway.StandardOutput);
        foreach (var line in gateway.StandardOutput)
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            Assert.Equal(System.Text.Json.JsonValueKind.Object, json.RootElement.ValueKind);
            Assert.True(json.RootElement.TryGetProperty("LogLevel", out _), line);
        }
    }

    private ModuleProcess Start()
    {
        File.Copy(Corpus.Bench("device-mapping-calculated-jsonpath.json"), Path.Combine(folder, "devicecontent.json"), overwrite: true);
        var gateway = new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, new Dictionary<string, string>
        {
            ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
            ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__AllowAnonymous"] = "true",
            ["Mqtt__MaxMessageBytes"] = "4096",
            ["Hub__BootstrapServers"] = cluster.BootstrapServers,
            ["Hub__Topic"] = "measurements",
            ["Monitoring__Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
            ["Monitoring__BindAddress"] = "127.0.0.1",
            ["Logging__Console__FormatterName"] = "json",
        });
        return gateway;
    }

    private async Task PublishAsync(int valid, int notJson, int oversized)
    {
        var message = await File.ReadAllBytesAsync(Corpus.Bench("message-bedside-monitor.json"));
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("scrape-client").Build();
        await Eventually.HoldsAsync(() =>
        {
            try
            {
                client.ConnectAsync(options).GetAwaiter().GetResult();
                return true;
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60));

        async Task SendAsync(byte[] payload)
        {
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/scrape/vitals").WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        for (var i = 0; i < valid; i++)
        {
            await SendAsync(message);
        }

        for (var i = 0; i < notJson; i++)
        {
            await SendAsync(Encoding.UTF8.GetBytes("not json \0 at all"));
        }

        for (var i = 0; i < oversized; i++)
        {
            await SendAsync(new byte[5000]);
        }

        await client.DisconnectAsync();
    }

    private IReadOnlyDictionary<string, PrometheusText.Family> Scrape()
    {
        using var http = new HttpClient();
        try
        {
            return PrometheusText.Parse(http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics")).GetAwaiter().GetResult());
        }
        catch (HttpRequestException)
        {
            return new Dictionary<string, PrometheusText.Family>();
        }
    }

    /// <summary>The family a sample name belongs to (its own name or the name before _total), under the gateway's prefix.</summary>
    private static PrometheusText.Family Family(IReadOnlyDictionary<string, PrometheusText.Family> families, string sample) =>
        families.Values.Single(f => f.Samples.Any(s => s.Name == Prefix + sample) || (f.Name == Prefix + sample && f.Samples.Count == 0));

    private static double Sum(IReadOnlyDictionary<string, PrometheusText.Family> families, string sample, params (string Key, string Value)[] labels) =>
        families.Values.SelectMany(f => f.Samples).Where(s => s.Name == Prefix + sample && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);
}
