using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using YamlDotNet.RepresentationModel;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The gateway and FHIR writer modules as processes of their own (real MQTT, mock Kafka cluster, FHIR test server),
/// their <c>/metrics</c> read by the strict exposition-format parser <see cref="PrometheusText"/>: the four stage-latency
/// histograms with the documented buckets, the silent-device gauges, the writer's seeded reasons and accounting; and
/// every query of the Grafana dashboard and the Prometheus alert rules in edge-deployment/monitoring names a series the
/// scrapes showed.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class ObservabilityScrapeTests : WriterPipelineTest
{
    private const string G = "medtech_edge_gateway_";
    private const string W = "medtech_edge_writer_";
    private readonly int gatewayMetrics = Ports.Free();
    private readonly int writerMetrics = Ports.Free();

    public ObservabilityScrapeTests()
        : base("medtech-observe-", ("measurements", 4))
    {
    }

    [Fact]
    public async Task GivenReadingsThroughBothModules_WhenScraped_ThenLatenciesDevicesAndAccountingShowAndEveryDashboardAndAlertQueryNamesAnExportedSeries()
    {
        var messages = VitalSigns.Messages(devices: 3, perDevice: 4);
        var gateway = StartGateway();
        using var writer = StartWriter();
        var fhir = VitalSigns.Client(server.BaseUrl);
        IReadOnlyDictionary<string, PrometheusText.Family> edge, cloud;
        try
        {
            await Eventually.HoldsAsync(() => Scrape(gatewayMetrics).Count > 0, TimeSpan.FromSeconds(60), () => string.Join('\n', gateway.Output));
            await VitalSigns.PublishAsync(mqttPort, messages);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => Sum(Scrape(writerMetrics), W + "observations_total") >= expected
                && Sum(Scrape(gatewayMetrics), G + "groups_forwarded_total") > 0 && Sum(Scrape(gatewayMetrics), G + "buffer_depth", ("collection", "outbox")) == 0,
                TimeSpan.FromSeconds(120), () => string.Join('\n', writer.Output.TakeLast(20)));
            Assert.Equal(expected, (await VitalSigns.ObservationsAsync(fhir)).Count);
            edge = Scrape(gatewayMetrics);
            cloud = Scrape(writerMetrics);
        }
        finally
        {
            await TerminateAsync(gateway);
        }

        // Histograms: typed, the documented buckets, cumulative, +Inf = _count; one observation per measurement or group.
        var measurements = Sum(cloud, W + "measurements_consumed_total");
        Assert.True(measurements >= messages.Count * VitalSigns.ObservationsPerMessage, $"{measurements} measurements");
        AssertHistogram(edge, G + "latency_device_to_committed_seconds", measurements);
        AssertHistogram(edge, G + "latency_committed_to_acknowledged_seconds", Sum(edge, G + "groups_forwarded_total"));
        AssertHistogram(cloud, W + "latency_hub_to_written_seconds", null);
        AssertHistogram(cloud, W + "latency_device_to_written_seconds", measurements);

        // Writer accounting: nothing dead-lettered (every reason seeded at 0), every measurement group consumed came from the gateway.
        Assert.Equal(WriterMetrics.Reasons.Order(), cloud.Values.Single(f => f.Name == W + "errors_total" || f.Samples.Any(s => s.Name == W + "errors_total"))
            .Samples.Select(s => s.Labels["reason"]).Order());
        Assert.Equal(0, Sum(cloud, W + "errors_total"));
        Assert.Equal(Sum(edge, G + "messages_normalized_total"), messages.Count);
        Assert.Equal(messages.Count * VitalSigns.ObservationsPerMessage, Sum(cloud, W + "observations_total", ("outcome", "created")));

        // Silent devices: counts per bracket, never an id; the list itself is in the private file beside the buffer.
        Assert.Equal(3, Sum(edge, G + "devices_known"));
        Assert.Equal(DeviceActivity.SilentBrackets.Select(b => b.Label).Order(), edge.Values.Single(f => f.Name == G + "devices_silent").Samples.Select(s => s.Labels["over"]).Order());
        Assert.DoesNotContain(edge.Values.Concat(cloud.Values).SelectMany(f => f.Samples).SelectMany(s => s.Labels.Values), v => v.Contains("monitor-", StringComparison.Ordinal) || v.Contains("patient-", StringComparison.Ordinal));
        var list = DeviceActivity.PathFor(Path.Combine(folder, "gateway.db"));
        Assert.Equal(["monitor-1", "monitor-2", "monitor-3"], DeviceActivity.Read(list).Select(d => d.DeviceId).Order());
        Assert.Equal("0600", Umask.Mode(list));

        // The dashboard and the alert rules: every series they name was in a scrape (plus Prometheus's own `up`).
        var exported = edge.Values.Concat(cloud.Values).SelectMany(f => f.Samples.Select(s => s.Name).Append(f.Name)).ToHashSet(StringComparer.Ordinal);
        exported.Add("up");
        var queries = DashboardQueries().Concat(AlertQueries()).ToList();
        Assert.True(queries.Count >= 20, $"{queries.Count} queries");

        // MedTech's metrics by name (docs/medtech-metrics.md): every MedTech metric has a row, every row's PromQL names exported series.
        var medtech = MedTechMetricsRows();
        Assert.Equal(
            ["DeviceEvent", "DeviceEventProcessingLatencyMs", "DroppedEvent", "FhirResourceSaved", "IotConnectorStatus", "Measurement", "MeasurementGroup", "MeasurementIngestionLatencyMs", "NormalizedEvent", "TotalErrors"],
            medtech.Select(r => r.RestName).Distinct().Order(StringComparer.Ordinal));
        queries.AddRange(medtech.Select(r => r.Query));
        var droppedCloud = Assert.Single(medtech, r => r.RestName == "DroppedEvent" && r.Path == "cloud").Query;
        Assert.Contains(cloud.Values.SelectMany(f => f.Samples), s => s.Name == W + "errors_total" && s.Labels["reason"] == "DroppedEvent");
        Assert.Contains("errors_total{reason=\"DroppedEvent\"}", droppedCloud, StringComparison.Ordinal);
        foreach (var query in queries)
        {
            var names = SeriesNames(query);
            Assert.NotEmpty(names);
            Assert.All(names, name => Assert.True(exported.Contains(name), $"'{name}' in '{query}' is not exported"));
        }
    }

    [Theory]
    [InlineData("sum by (reason) (rate(medtech_edge_x_total{a=\"b\"}[5m])) > 0", "medtech_edge_x_total")]
    [InlineData("histogram_quantile(0.5, sum by (le) (rate(a_bucket[5m]))) / ignoring(job) b", "a_bucket,b")]
    [InlineData("up{job=~\"medtech.*\"} == 0", "up")]
    public void GivenAQuery_WhenItsSeriesAreNamed_ThenFunctionsLabelsAndDurationsAreNot(string query, string expected) =>
        Assert.Equal(expected.Split(','), SeriesNames(query));

    /// <summary>docs/medtech-metrics.md's table: (REST name, path, PromQL) per row, the code spans unescaped.</summary>
    private static List<(string RestName, string Path, string Query)> MedTechMetricsRows()
    {
        var rows = File.ReadAllLines(Repository.PathOf("docs", "medtech-metrics.md"))
            .Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| MedTech display", StringComparison.Ordinal))
            .Select(l => CellSplit().Split(l.Trim().Trim('|')).Select(c => c.Trim()).ToArray())
            .Select(c => (RestName: CodeSpan().Match(c[1]).Groups[1].Value, Path: c[2], Query: CodeSpan().Match(c[^1]).Groups[1].Value.Replace("\\|", "|", StringComparison.Ordinal)))
            .ToList();
        Assert.True(rows.Count >= 10, $"{rows.Count} rows");
        Assert.All(rows, r => Assert.False(string.IsNullOrEmpty(r.Query) || string.IsNullOrEmpty(r.RestName), $"a row without REST name or query: {r}"));
        return rows;
    }

    /// <summary>The series a PromQL query selects: identifiers left once strings, label matchers, grouping clauses, range durations, functions and keywords are removed.</summary>
    private static List<string> SeriesNames(string query)
    {
        var text = Strings().Replace(query, "\"\"");
        text = Matchers().Replace(text, "");
        text = Grouping().Replace(text, " ");
        text = Durations().Replace(text, "");
        return Identifiers().Matches(text).Where(m => !text[(m.Index + m.Length)..].TrimStart().StartsWith('(') && !Keywords.Contains(m.Value))
            .Select(m => m.Value).Distinct().ToList();
    }

    private static readonly HashSet<string> Keywords = ["and", "or", "unless", "bool", "offset", "inf", "nan"];

    private static List<string> DashboardQueries()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Repository.PathOf("edge-deployment", "monitoring", "grafana-dashboard.json")));
        return dashboard.RootElement.GetProperty("panels").EnumerateArray().Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray()).Select(t => t.GetProperty("expr").GetString()!).ToList();
    }

    private static List<string> AlertQueries()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Repository.PathOf("edge-deployment", "monitoring", "prometheus-alerts.yml")))
        {
            yaml.Load(reader);
        }

        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        return ((YamlSequenceNode)root["groups"]).Cast<YamlMappingNode>().SelectMany(g => ((YamlSequenceNode)g["rules"]).Cast<YamlMappingNode>())
            .Select(r =>
            {
                Assert.True(r.Children.ContainsKey("alert") && r.Children.ContainsKey("expr"), "a rule without alert or expr");
                return ((YamlScalarNode)r["expr"]).Value!;
            }).ToList();
    }

    private static void AssertHistogram(IReadOnlyDictionary<string, PrometheusText.Family> families, string name, double? count)
    {
        var family = families.Values.Single(f => f.Name == name);
        Assert.Equal("histogram", family.Type);
        var buckets = family.Samples.Where(s => s.Name == name + "_bucket").ToList();
        Assert.Equal(MonitoringExtensions.LatencyBucketsSeconds.Append(double.PositiveInfinity), buckets.Select(b => b.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(b.Labels["le"], CultureInfo.InvariantCulture)));
        Assert.True(buckets.Zip(buckets.Skip(1)).All(p => p.First.Value <= p.Second.Value), name + ": buckets not cumulative");
        var total = family.Samples.Single(s => s.Name == name + "_count").Value;
        Assert.Equal(total, buckets[^1].Value);
        Assert.True(total > 0, name + " observed nothing");
        if (count is { } expected)
        {
            Assert.Equal(expected, total);
        }
    }

    private ModuleProcess StartGateway()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        var pfx = Path.Combine(folder, "broker.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pfx, "test"));
        return new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, new Dictionary<string, string>
        {
            ["Gateway__DeviceMappingPath"] = VitalSigns.DeviceMapping,
            ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt__Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__AllowAnonymous"] = "true",

            // A TLS port too, so the certificate's days-left gauge the dashboard shows is exported.
            ["Mqtt__TlsPort"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
            ["Mqtt__CertificatePath"] = pfx,
            ["Mqtt__CertificatePassword"] = "test",
            ["Hub__BootstrapServers"] = cluster.BootstrapServers,
            ["Hub__Topic"] = "measurements",
            ["Monitoring__Port"] = gatewayMetrics.ToString(CultureInfo.InvariantCulture),
            ["Monitoring__BindAddress"] = "127.0.0.1",
        });
    }

    private ModuleProcess StartWriter()
    {
        var environment = TestHosts.WriterSettings(server.BaseUrl);
        environment["FhirServer__Authentication"] = "None";
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "measurements";
        environment["Writer__InHandPath"] = Path.Combine(folder, "writer-inhand.json");
        environment["Monitoring__Port"] = writerMetrics.ToString(CultureInfo.InvariantCulture);
        environment["Monitoring__BindAddress"] = "127.0.0.1";
        return new ModuleProcess("FhirWriter", "MedTech.Edge.Modules.FhirWriter.dll", folder, environment);
    }

    /// <summary>SIGTERM, as a container stop sends, and the wait for a clean exit (the gateway writes its device list then).</summary>
    private static async Task TerminateAsync(ModuleProcess module)
    {
        using (var term = System.Diagnostics.Process.Start("kill", ["-TERM", module.Process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        await module.Process.WaitForExitAsync();
        module.Dispose();
    }

    private static IReadOnlyDictionary<string, PrometheusText.Family> Scrape(int port)
    {
        using var http = new HttpClient();
        try
        {
            return PrometheusText.Parse(http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics")).GetAwaiter().GetResult());
        }
        catch (HttpRequestException)
        {
            return new Dictionary<string, PrometheusText.Family>();
        }
    }

    private static double Sum(IReadOnlyDictionary<string, PrometheusText.Family> families, string sample, params (string Key, string Value)[] labels) =>
        families.Values.SelectMany(f => f.Samples).Where(s => s.Name == sample && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    [GeneratedRegex("(?<!\\\\)\\|")]
    private static partial Regex CellSplit();

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex CodeSpan();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex Strings();

    [GeneratedRegex("\\{[^}]*\\}")]
    private static partial Regex Matchers();

    [GeneratedRegex("\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)")]
    private static partial Regex Grouping();

    [GeneratedRegex("\\[[^\\]]*\\]")]
    private static partial Regex Durations();

    [GeneratedRegex("(?<![0-9.])\\b[a-zA-Z_:][a-zA-Z0-9_:]*\\b")]
    private static partial Regex Identifiers();
}
