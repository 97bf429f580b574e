using System.Globalization;
using System.Text;
using MedTech.Edge.Hosting;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// The gateway module as a process of its own exporting its spans over OTLP/HTTP (protobuf) to a receiver the test
/// runs, as it would to an OpenTelemetry collector: OTEL_EXPORTER_OTLP_ENDPOINT switches it on, the spans of one
/// reading arrive in one trace under the module's service name, and the exported bytes hold none of the reading's
/// patient data; without the variable nothing is sent; a collector that is down or hangs does not stall the pipeline.
/// </summary>
public sealed class OtlpExportModuleTests : IDisposable
{
    // Ids and values no other test uses: found anywhere in the exported bytes, they are patient data leaking.
    private const string DeviceId = "bedside-Q7ZK4";
    private const string PatientId = "pt-W3XR8";
    private const string ClientId = "mqtt-client-V5TN2";
    private static readonly double[] Values = [131.0625, 93.8125, 143.5625, 87.1875, 17.3125, 37.4375];

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-otlp-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();
    private readonly int metricsPort = Ports.Free();

    public OtlpExportModuleTests() => cluster.CreateTopic("measurements", 2);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenAnOtlpEndpoint_WhenAReadingIsCharted_ThenItsGatewaySpansArriveInOneTraceUnderTheModuleNameWithoutPatientData()
    {
        using var receiver = new OtlpReceiver();
        using var gateway = Start(receiver.Endpoint);

        await PublishAsync(0);

        // forward ends once the hub acknowledged; the batch exporter sends within its 200 ms delay after that.
        await Eventually.HoldsAsync(() => new[] { "ingest", "normalize", "group", "forward" }.All(n => receiver.Spans.Any(s => s.Name == n)), TimeSpan.FromSeconds(60),
            () => $"spans: {string.Join(',', receiver.Spans.Select(s => s.Name))}\n{string.Join('\n', gateway.Output.TakeLast(20))}");

        var spans = receiver.Spans;
        Assert.Single(spans.Select(s => s.TraceId).Distinct());
        Assert.All(spans, s => Assert.Equal("MedTech.Edge.Modules.EdgeGateway", s.Service));
        Assert.All(spans, s => Assert.Equal(PipelineTracing.Gateway.Name, s.Scope));
        Assert.Single(spans, s => s.Name == "ingest" && s.ParentSpanId.Length == 0);
        var bySpanId = spans.ToDictionary(s => s.SpanId);
        Assert.All(spans.Where(s => s.Name == "forward"), s => Assert.Equal("group", bySpanId[s.ParentSpanId].Name));
        Assert.All(spans.Where(s => s.Name == "group"), s => Assert.Equal("normalize", bySpanId[s.ParentSpanId].Name));
        Assert.All(spans.Where(s => s.Name == "normalize"), s => Assert.Equal("ingest", bySpanId[s.ParentSpanId].Name));
        Assert.All(receiver.Requests, r => Assert.Equal("/v1/traces", r.Path));
        AssertNoPatientData(receiver.Requests.Select(r => r.Body));
    }

    [Fact]
    public async Task GivenNoOtlpEndpoint_WhenAReadingIsChartedAndTheModuleStops_ThenNothingIsSentAndTheHubMessageCarriesNoTraceContext()
    {
        // Blank counts as unset; the signal's own variable points at the receiver, so an exporter registered anyway
        // would send there (and flush at the stop).
        using var receiver = new OtlpReceiver();
        var gateway = Start(endpoint: "", new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.Endpoint + "/v1/traces" });
        int exitCode;
        try
        {
            await PublishAsync(0);
            var forwarded = HubReader.Read(cluster.BootstrapServers, "measurements", m => m.Count > 0, TimeSpan.FromSeconds(60));
            Assert.NotEmpty(forwarded);
            Assert.All(forwarded, m => Assert.DoesNotContain(m.Headers ?? [], h => h.Key == PipelineTracing.TraceParentHeader));
        }
        finally
        {
            exitCode = await StopAsync(gateway);
        }

        Assert.Equal(0, exitCode);
        Assert.Empty(receiver.Requests);
    }

    [Theory]
    [InlineData("closed")]
    [InlineData("hanging")]
    public async Task GivenACollectorThatIsDownOrHangs_WhenReadingsArrive_ThenTheModuleKeepsChartingThem(string collector)
    {
        using var hanging = collector == "hanging" ? new OtlpReceiver.Hanging() : null;
        using var gateway = Start(hanging?.Endpoint ?? $"http://127.0.0.1:{Ports.Free()}");

        const int readings = 3;
        for (var i = 0; i < readings; i++)
        {
            await PublishAsync(i);
            await Eventually.HoldsAsync(() => Scraped("messages_normalized_total") == i + 1 && Scraped("buffer_depth", ("collection", "outbox")) == 0, TimeSpan.FromSeconds(60),
                () => string.Join('\n', gateway.Output.TakeLast(20)));
            if (i == 0 && hanging is not null)
            {
                // The exporter's request is in hand at the hung collector before the next readings arrive.
                await Eventually.HoldsAsync(() => hanging.Accepted > 0, TimeSpan.FromSeconds(30));
            }
        }

        var messages = HubReader.Read(cluster.BootstrapServers, "measurements", m => Contains(m, readings), TimeSpan.FromSeconds(60));
        Assert.True(Contains(messages, readings), $"{messages.Count} hub messages");
        Assert.False(gateway.Process.HasExited);
    }

    /// <summary>Every reading's time in some hub message (each reading is its own group time).</summary>
    private static bool Contains(List<Confluent.Kafka.Message<string, byte[]>> messages, int readings)
    {
        var text = string.Join('\n', messages.Select(m => Encoding.UTF8.GetString(m.Value)));
        return Enumerable.Range(0, readings).All(i => text.Contains(Time(i)[..19], StringComparison.Ordinal));
    }

    private static string Time(int second) => $"2026-11-25T07:00:{second:00}.000Z";

    /// <summary>None of the reading's ids, its MQTT client id or its values, as text or as doubles, in any exported byte.</summary>
    private static void AssertNoPatientData(IEnumerable<byte[]> bodies)
    {
        var all = bodies.SelectMany(b => b).ToArray();
        // The search sees attribute text at all (a control): the ingest span's messaging.system is "mqtt".
        Assert.True(all.AsSpan().IndexOf("messaging.system"u8) >= 0 && all.AsSpan().IndexOf("mqtt"u8) >= 0);
        var needles = new[] { DeviceId, PatientId, ClientId }.Select(Encoding.UTF8.GetBytes)
            .Concat(Values.Select(v => Encoding.UTF8.GetBytes(v.ToString(CultureInfo.InvariantCulture))))
            .Concat(Values.Select(BitConverter.GetBytes));
        foreach (var needle in needles)
        {
            Assert.True(all.AsSpan().IndexOf(needle) < 0, $"exported bytes contain {Convert.ToHexString(needle)}");
        }
    }

    private ModuleProcess Start(string endpoint, IReadOnlyDictionary<string, string>? more = null)
    {
        File.Copy(Corpus.Bench("device-mapping-calculated-jsonpath.json"), Path.Combine(folder, "devicecontent.json"), overwrite: true);
        var environment = new Dictionary<string, string>
        {
            ["Gateway__DeviceMappingPath"] = Path.Combine(folder, "devicecontent.json"),
            ["Buffer__Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__AllowAnonymous"] = "true",
            ["Hub__BootstrapServers"] = cluster.BootstrapServers,
            ["Hub__Topic"] = "measurements",
            ["Monitoring__Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
            ["Monitoring__BindAddress"] = "127.0.0.1",
            [MonitoringExtensions.OtlpEndpointVariable] = endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            // Every span (the shipped settings trace one reading in a hundred).
            ["OTEL_TRACES_SAMPLER"] = "parentbased_always_on",
            // Export soon after a span ends (the default waits 5 s).
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        };
        foreach (var (key, value) in more ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        return new ModuleProcess("EdgeGateway", "MedTech.Edge.Modules.EdgeGateway.dll", folder, environment);
    }

    /// <summary>One bedside reading at second <paramref name="second"/>, on a topic that names the device (as topics commonly do).</summary>
    private async Task PublishAsync(int second)
    {
        var payload = string.Create(CultureInfo.InvariantCulture,
            $$"""{"deviceId":"{{DeviceId}}","patientId":"{{PatientId}}","heartRate":{{Values[0]}},"spo2":{{Values[1]}},"systolic":{{Values[2]}},"diastolic":{{Values[3]}},"respiratoryRate":{{Values[4]}},"temperature":{{Values[5]}},"timestamp":"{{Time(second)}}"}""");
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(ClientId).Build();
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

        var ack = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{DeviceId}/vitals").WithPayload(Encoding.UTF8.GetBytes(payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(ack.IsSuccess);
        await client.DisconnectAsync();
    }

    /// <summary>SIGTERM, as a container stop sends: the host stops and disposes its providers (an exporter would flush).</summary>
    private static async Task<int> StopAsync(ModuleProcess module)
    {
        using (var term = System.Diagnostics.Process.Start("kill", ["-TERM", module.Process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        await module.Process.WaitForExitAsync();
        var exitCode = module.Process.ExitCode;
        module.Dispose();
        return exitCode;
    }

    private double Scraped(string sample, params (string Key, string Value)[] labels)
    {
        using var http = new HttpClient();
        try
        {
            var families = PrometheusText.Parse(http.GetStringAsync(new Uri($"http://127.0.0.1:{metricsPort}/metrics")).GetAwaiter().GetResult());
            return families.Values.SelectMany(f => f.Samples)
                .Where(s => s.Name == "medtech_edge_gateway_" + sample && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);
        }
        catch (HttpRequestException)
        {
            return -1;
        }
    }
}
