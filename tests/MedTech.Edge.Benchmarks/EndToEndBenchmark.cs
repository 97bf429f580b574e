using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Gateway;
using MedTech.Edge.Testing;
using MedTech.Edge.Writer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// End-to-end latency, device publish → Observation readable in the FHIR server (the moment the server answered the
/// writer's batch that created it), through the gateway (embedded broker, LiteDB forced to disk), the mock Kafka
/// cluster, the writer and the Medplum-based FHIR server, all on this machine with default settings. Bedside monitors
/// publish once a second, six vital-sign readings per message (five Observations); the rate sets how many monitors.
/// Then the sustained rate: monitors publish a backlog of seconds as fast as they can, and the chain's readings/s
/// from first publish to last Observation is the figure.
/// </summary>
internal static class EndToEndBenchmark
{
    private const int ReadingsPerMessage = 6;

    public static async Task RunAsync(int seconds)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-e2e-bench-").FullName;
        await using var server = await FhirTestServer.StartAsync();
        using var cluster = new MockCluster();
        cluster.CreateTopic("measurements", 4);
        var written = new ConcurrentDictionary<string, long>();
        var mqttPort = Ports.Free();
        using var gateway = Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var writer = Writer(server.BaseUrl, cluster.BootstrapServers, written);
        await gateway.StartAsync();
        await writer.StartAsync();
        try
        {
            Console.WriteLine($"End-to-end benchmark: {seconds} s per rate, monitors publishing once a second ({ReadingsPerMessage} readings, 5 Observations per message); .NET {Environment.Version}");
            var epoch = new DateTime(2026, 11, 24, 0, 0, 0, DateTimeKind.Utc);
            foreach (var (rate, phase) in new[] { (200, 0), (2000, 1) })
            {
                var devices = (int)Math.Ceiling(rate / (double)ReadingsPerMessage);
                var start = epoch.AddHours(phase);
                var published = await PublishAsync(mqttPort, devices, seconds, start, paced: true, $"p{phase}-");
                var latencies = await LatenciesAsync(published, written, TimeSpan.FromMinutes(3));
                Console.WriteLine($"{rate,5} readings/s ({devices} monitors): p50 {Percentile(latencies, 0.50),7:N0} ms   p99 {Percentile(latencies, 0.99),7:N0} ms   " +
                    $"max {latencies.DefaultIfEmpty().Max(),7:N0} ms   ({latencies.Count:N0} of {published.Count:N0} messages' heart-rate Observations seen)");
            }

            // Sustained: 500 monitors with 40 seconds of data each, published as fast as the chain takes them.
            var clock = Stopwatch.StartNew();
            var backlog = await PublishAsync(mqttPort, 500, 40, epoch.AddHours(2), paced: false, "s-");
            var done = await LatenciesAsync(backlog, written, TimeSpan.FromMinutes(10));
            var elapsed = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"sustained: {backlog.Count * ReadingsPerMessage:N0} readings ({backlog.Count:N0} messages) in {elapsed:N1} s = {backlog.Count * ReadingsPerMessage / elapsed,7:N0} readings/s ({done.Count:N0} heart-rate Observations seen)");
        }
        finally
        {
            await writer.StopAsync();
            await gateway.StopAsync();
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Each monitor publishes <paramref name="seconds"/> messages (one per second of data); returns the heart-rate Observation key and publish time of each.</summary>
    private static async Task<List<(string Key, long PublishedTicks)>> PublishAsync(int port, int devices, int seconds, DateTime start, bool paced, string prefix)
    {
        var published = new ConcurrentBag<(string, long)>();
        var clients = new List<IMqttClient>();
        for (var d = 0; d < devices; d++)
        {
            var client = new MqttClientFactory().CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId($"{prefix}monitor-{d}").Build());
            clients.Add(client);
        }

        var clock = Stopwatch.StartNew();
        for (var s = 0; s < seconds; s++)
        {
            if (paced && clock.Elapsed < TimeSpan.FromSeconds(s))
            {
                await Task.Delay(TimeSpan.FromSeconds(s) - clock.Elapsed);
            }

            var time = start.AddSeconds(s);
            var round = clients.Select(async (client, d) =>
            {
                var device = $"{prefix}monitor-{d}";
                var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                    $$"""{"deviceId":"{{device}}","patientId":"{{prefix}}patient-{{d}}","timestamp":"{{time:yyyy-MM-ddTHH:mm:ssZ}}","heartRate":{{60 + (s % 40)}},"spo2":97,"respiratoryRate":14,"temperature":36.8,"systolic":120,"diastolic":80}"""));
                var sent = Stopwatch.GetTimestamp();
                await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{device}/vitals").WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                published.Add((Key(IdentityResolver.DeterministicIds(device, $"{prefix}patient-{d}", null).DeviceId, time), sent));
            });
            await Task.WhenAll(round);
        }

        foreach (var client in clients)
        {
            client.Dispose();
        }

        return published.ToList();
    }

    private static async Task<List<double>> LatenciesAsync(List<(string Key, long PublishedTicks)> published, ConcurrentDictionary<string, long> written, TimeSpan timeout)
    {
        for (var deadline = DateTime.UtcNow + timeout; published.Any(p => !written.ContainsKey(p.Key)) && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(200);
        }

        return published.Where(p => written.ContainsKey(p.Key)).Select(p => Stopwatch.GetElapsedTime(p.PublishedTicks, written[p.Key]).TotalMilliseconds).Order().ToList();
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static string Key(string deviceResourceId, DateTime time) => $"Device/{deviceResourceId}|{time:yyyy-MM-ddTHH:mm:ss}";

    internal static IHost Gateway(string folder, int mqttPort, string bootstrap, bool metered = true) => Build(new()
    {
        ["Gateway:DeviceMappingPath"] = Mapping("device-mapping"),
        ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
        ["Mqtt:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
        ["Mqtt:AllowAnonymous"] = "true",
        // The sustained phase has each monitor publish its backlog as fast as it can: the per-device rate would set the pace.
        ["Mqtt:DeviceQuota:RatePerSecond"] = "0",
        ["Hub:BootstrapServers"] = bootstrap,
        ["Hub:Topic"] = "measurements",
    }, b =>
    {
        b.AddEdgeGateway().AddHubForwarding();
        if (!metered)
        {
            // Instrumentation off (the instrumentation benchmark's "none"): nothing of OpenTelemetry's is registered (no
            // meter provider, so no instrument has a listener; nor its metrics listener and hosted service, which need
            // one), and the /metrics server that serves the provider is not started.
            foreach (var service in b.Services.Where(s => OfOpenTelemetry(s.ServiceType) || OfOpenTelemetry(s.ImplementationType) || s.ImplementationType == typeof(Hosting.MonitoringServer)).ToList())
            {
                b.Services.Remove(service);
            }
        }
    });

    private static IHost Writer(Uri fhir, string bootstrap, ConcurrentDictionary<string, long> written) => Build(new()
    {
        ["Writer:FhirMappingPath"] = Mapping("fhir-mapping"),
        ["ResourceIdentity:ResourceIdentityServiceType"] = "Create",
        ["FhirServer:Url"] = fhir.AbsoluteUri,
        ["Hub:BootstrapServers"] = bootstrap,
        ["Hub:Topic"] = "measurements",
    }, b =>
    {
        b.AddFhirWriter();
        // The writer's own client, with a handler that notes when the server confirmed each heart-rate Observation.
        b.Services.AddSingleton(sp =>
        {
            var options = new FhirServerOptions { Url = fhir };
            var http = new HttpClient(new CreationClock(written) { InnerHandler = new SocketsHttpHandler() }) { BaseAddress = fhir, Timeout = Timeout.InfiniteTimeSpan };
            return new FhirServerClient(http, options, sp.GetRequiredService<ILogger<FhirServerClient>>());
        });
    });

    private static bool OfOpenTelemetry(Type? type) => type?.Assembly.GetName().Name?.StartsWith("OpenTelemetry", StringComparison.Ordinal) == true;

    private static IHost Build(Dictionary<string, string?> config, Action<IHostApplicationBuilder> add)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        config["Monitoring:Port"] = "0";
        builder.Configuration.AddInMemoryCollection(config);
        add(builder);
        return builder.Build();
    }

    private static string Mapping(string kind) => Path.Combine(Repository.Root, "src", "MedTech.Edge.Cli", "Mappings", $"vital-signs.{kind}.json");

    /// <summary>Records, for each heart-rate Observation in a batch the server answered with success, when that answer came.</summary>
    private sealed class CreationClock(ConcurrentDictionary<string, long> written) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Post && response.IsSuccessStatusCode && body is not null)
            {
                var now = Stopwatch.GetTimestamp();
                using var json = JsonDocument.Parse(body);
                foreach (var entry in json.RootElement.TryGetProperty("entry", out var entries) ? entries.EnumerateArray() : default)
                {
                    if (entry.TryGetProperty("resource", out var r) && r.GetProperty("resourceType").GetString() == "Observation"
                        && r.GetProperty("code").GetProperty("coding")[0].GetProperty("code").GetString() == "8867-4")
                    {
                        written.TryAdd($"{r.GetProperty("device").GetProperty("reference").GetString()}|{r.GetProperty("effectivePeriod").GetProperty("start").GetString()![..19]}", now);
                    }
                }
            }

            return response;
        }
    }
}
