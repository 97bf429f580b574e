using System.Diagnostics;
using System.Globalization;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// What the instrumentation costs, in one run, each row alternating four ways of running (the order rotating each
/// repeat), medians, ratios against the same run's "none" and "default" only:
/// <list type="bullet">
/// <item>none: instrumentation off: no meter provider and no tracer provider, so no instrument and no source has a
/// listener (the baseline for what metrics and tracing cost together);</item>
/// <item>default: a module as shipped without <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>: no tracer provider (no span is made),
/// and the module's own meter provider with the Prometheus exporter aggregating every measurement for <c>/metrics</c>
/// (the monitoring host <see cref="MonitoringExtensions.AddMonitoring"/> builds; nothing scrapes);</item>
/// <item>sampled: default plus tracing as <c>OTEL_TRACES_SAMPLER=parentbased_traceidratio</c>, <c>OTEL_TRACES_SAMPLER_ARG=0.1</c>
/// configures it, batch export (the SDK's defaults) to an exporter that counts and drops;</item>
/// <item>every span: the same with every span recorded (always-on), the worst case.</item>
/// </list>
/// Rows: (b) MQTT publish → committed → acknowledged (ingest spans); Normalize and Group from the inbox into the
/// outbox (normalize and group spans, the stored traceparents); forward of the outbox to the mock Kafka cluster
/// (forward spans, W3C headers); end to end at the gateway: the gateway module host (broker, buffer forced to disk,
/// workers) from the first MQTT publish until the mock Kafka cluster acknowledged every group (the FHIR leg is left
/// out: its rate is the FHIR server's, far below the gateway's, and would hide the gateway's cost).
/// </summary>
internal static class InstrumentationBenchmark
{
    private enum Way
    {
        None,
        Default,
        Sampled,
        EverySpan,
    }

    /// <summary>The ratio of the "sampled" column (what <c>OTEL_TRACES_SAMPLER_ARG</c> would say): 0.1 unless <c>--ratio</c> says otherwise.</summary>
    private static double SampledRatio = 0.1;

    /// <param name="ratio">The sampled column's ratio (0 shows what unsampled readings alone cost).</param>
    /// <param name="only">Runs only the rows whose name starts with it (case-insensitive), e.g. "normalize".</param>
    public static async Task RunAsync(int messages, int repeats, double ratio = 0.1, string? only = null)
    {
        SampledRatio = ratio;
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(MonitoringExtensions.OtlpEndpointVariable)))
        {
            throw new InvalidOperationException($"Unset {MonitoringExtensions.OtlpEndpointVariable}: the default column is a module without it.");
        }

        var folder = Directory.CreateTempSubdirectory("medtech-instr-bench-").FullName;
        try
        {
            Console.WriteLine($"Instrumentation benchmark: {messages:N0} messages per row, {repeats} rotations none/default/sampled ({SampledRatio:P0})/every span, medians; .NET {Environment.Version}; load average {LoadAverage()}");
            using var cluster = MockClusterProcess.Start("measurements");
            var rows = new Row[]
            {
                new("(b) publish -> committed -> acked, msg/s", true, (f, _, _) => GatewayBenchmark.GatewayIngestAsync(messages, GatewayBenchmark.Payload, f, forceToDisk: true)),
                new("Normalize+Group inbox -> outbox, msg/s", true, (f, _, settle) => NormalizeAsync(messages, f, settle)),
                new("forward outbox -> mock Kafka, groups/s", true, (f, _, settle) => ForwardAsync(messages, f, cluster.BootstrapServers, settle)),

                // The gateway host brings its own monitoring (the module's meter provider), as deployed. A quarter of the
                // messages: the buffer is forced to disk at every commit, and the row must not take the run's time.
                new("end to end: publish -> hub acked, msg/s", false, (f, metered, settle) => GatewayEndToEndAsync(messages / 4, f, cluster.BootstrapServers, metered, settle)),
            }.Where(r => only is null || r.Name.StartsWith(only, StringComparison.OrdinalIgnoreCase)).ToArray();

            // Warm-up, not counted: one run with every span goes through every method a row calls (tiered JIT's second tier too).
            foreach (var row in rows)
            {
                await Timed(row, folder, Way.EverySpan);
            }

            Console.WriteLine($"{"row",-42} {"none",10} {"default",10} {"sampled",10} {"every span",10} {"default/none",13} {"sampled/none",13} {"sampled/default",16} {"every/default",14}");
            foreach (var row in rows)
            {
                var rates = Enum.GetValues<Way>().ToDictionary(w => w, _ => new List<double>());
                var spans = Enum.GetValues<Way>().ToDictionary(w => w, _ => 0L);
                var cpus = Enum.GetValues<Way>().ToDictionary(w => w, _ => new List<double>());
                for (var i = 0; i < repeats; i++)
                {
                    var ways = Enum.GetValues<Way>();
                    for (var k = 0; k < ways.Length; k++)
                    {
                        var way = ways[(i + k) % ways.Length];
                        var (rate, exported, cpu) = await Timed(row, folder, way);
                        rates[way].Add(rate);
                        cpus[way].Add(cpu);
                        spans[way] += exported;
                    }
                }

                Print(row.Name, rates, "N0");
                Print("  CPU ms of the run (process), medians", cpus, "N0");
                Console.WriteLine($"{"",-42} runs: none {Runs(rates[Way.None])}; default {Runs(rates[Way.Default])}; sampled {Runs(rates[Way.Sampled])}; every {Runs(rates[Way.EverySpan])}");
                Console.WriteLine($"{"",-42} CPU ms: none {Runs(cpus[Way.None])}; default {Runs(cpus[Way.Default])}; sampled {Runs(cpus[Way.Sampled])}; every {Runs(cpus[Way.EverySpan])}; spans exported per run: sampled {spans[Way.Sampled] / repeats:N0}, every {spans[Way.EverySpan] / repeats:N0}");
            }

            Console.WriteLine($"load average at the end {LoadAverage()}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>One line of the table: the medians of each way and their ratios (a rate or CPU time alike).</summary>
    private static void Print(string name, Dictionary<Way, List<double>> values, string format)
    {
        var (none, plain, sampled, every) = (Median(values[Way.None]), Median(values[Way.Default]), Median(values[Way.Sampled]), Median(values[Way.EverySpan]));
        Console.WriteLine($"{name,-42} {none.ToString(format, CultureInfo.InvariantCulture),10} {plain.ToString(format, CultureInfo.InvariantCulture),10} " +
                          $"{sampled.ToString(format, CultureInfo.InvariantCulture),10} {every.ToString(format, CultureInfo.InvariantCulture),10} " +
                          $"{plain / none,13:P1} {sampled / none,13:P1} {sampled / plain,16:P1} {every / plain,14:P1}");
    }

    /// <summary>A row: its run takes its folder, whether the module's meter provider runs (false for "none"), and a "settle" it calls when its set-up is done and its clock starts (spans of the set-up exported, garbage collected).</summary>
    private sealed record Row(string Name, bool NeedsMonitoring, Func<string, bool, Action, Task<double>> Run);

    /// <summary>
    /// One run of <paramref name="row"/> the given way, in a folder of its own: its rate, the spans it exported, and the
    /// CPU the whole process spent from the row's clock start to its end (every thread: the exporter's and the GC's
    /// too; the mock cluster is another process). The CPU is steadier than the rate on a machine shared with other work.
    /// </summary>
    private static async Task<(double Rate, long Spans, double CpuMs)> Timed(Row row, string folder, Way way)
    {
        var own = Directory.CreateDirectory(Path.Combine(folder, Guid.NewGuid().ToString("N"))).FullName;
        using var monitoring = row.NeedsMonitoring && way != Way.None ? await MonitoringHostAsync() : null;
        var exporter = new CountingExporter();
        using var tracing = way is Way.None or Way.Default ? null : Sdk.CreateTracerProviderBuilder().AddSource(MonitoringExtensions.MeterPrefix + "*")
            .SetSampler(way == Way.Sampled ? new ParentBasedSampler(new TraceIdRatioBasedSampler(SampledRatio)) : new AlwaysOnSampler())
            .AddProcessor(new BatchActivityExportProcessor(exporter)).Build();
        if ((way is Way.Sampled or Way.EverySpan) != PipelineTracing.Gateway.HasListeners())
        {
            throw new InvalidOperationException("The tracing listener is not as the run needs it.");
        }

        // What earlier runs (and a row's set-up) left is neither exported nor collected on this one's time.
        var exportedBefore = 0L;
        var cpuBefore = TimeSpan.Zero;
        void Settle()
        {
            tracing?.ForceFlush();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            exportedBefore = exporter.Exported;
            cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        }

        Settle();
        var rate = await row.Run(own, way != Way.None, Settle);
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
        tracing?.ForceFlush();
        if (monitoring is not null)
        {
            await monitoring.StopAsync();
        }

        Directory.Delete(own, recursive: true);
        return (rate, exporter.Exported - exportedBefore, cpu);
    }

    /// <summary>The monitoring a module registers (<see cref="MonitoringExtensions.AddMonitoring"/>): the meter provider with the Prometheus exporter, <c>/metrics</c> on a free port.</summary>
    private static async Task<IHost> MonitoringHostAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Monitoring:Port"] = "0" });
        builder.Services.AddMonitoring();
        var host = builder.Build();
        await host.StartAsync();
        _ = host.Services.GetRequiredService<MeterProvider>();
        return host;
    }

    /// <summary>Inbox messages as ingest stores them (through <see cref="TracedInbox"/>), then timed: the stage until the inbox is empty.</summary>
    private static async Task<double> NormalizeAsync(int messages, string folder, Action settle)
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "normalize.db"), MaxMessages = messages * 2L, ForceToDisk = false };
        using var store = new GatewayStore(options);
        var writer = new InboxWriter(store, options);
        using var stop = new CancellationTokenSource();
        var commits = writer.RunAsync(stop.Token);
        var inbox = new TracedInbox(writer);
        await Task.WhenAll(Enumerable.Range(0, messages).Select(i => inbox.AppendAsync(
            new InboxMessage($"monitor-{i % 50}", $"devices/monitor-{i % 50}/vitals", Reading($"monitor-{i % 50}", i / 50), DateTime.UtcNow, new Dictionary<string, string>()), default)));
        await stop.CancelAsync();
        await commits;

        using var metrics = new GatewayMetrics(store);
        var mapping = DeviceMappingSource.Load(Repository.PathOf("src", "MedTech.Edge.Cli", "Mappings", "vital-signs.device-mapping.json"), NullLogger<DeviceMappingSource>.Instance, metrics);
        var stage = new NormalizationStage(store, mapping, NullLogger<NormalizationStage>.Instance, metrics);
        settle();
        var clock = Stopwatch.StartNew();
        var taken = 0;
        for (int round; (round = stage.RunOnce(new GatewayOptions().NormalizationBatchSize)) > 0;)
        {
            taken += round;
        }

        return taken == messages ? taken / clock.Elapsed.TotalSeconds : throw new InvalidOperationException($"{taken} of {messages} normalized");
    }

    /// <summary>
    /// An outbox of groups as Normalize stores them (a traceparent for each sampled group while spans are made: a root
    /// span per group, so the sampler decides per group as it would per reading), then timed: forwarded until empty.
    /// </summary>
    private static async Task<double> ForwardAsync(int groups, string folder, string bootstrapServers, Action settle)
    {
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "forward.db"), MaxMessages = groups * 2L, ForceToDisk = false });
        const int PerRound = 500;
        for (var at = 0; at < groups; at += PerRound)
        {
            var entries = Enumerable.Range(at, Math.Min(PerRound, groups - at)).Select(i =>
            {
                using var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, "group", ActivityKind.Internal, default);
                return new OutboxEntry($"monitor-{i % 200}", GatewayBenchmark.Payload, DateTime.UtcNow) { TraceParent = span is { Recorded: true } ? PipelineTracing.Format(span.Context) : null };
            }).ToList();
            store.CompleteNormalization([], entries, []);
        }

        var hub = new HubOptions { BootstrapServers = bootstrapServers, Topic = "measurements", ForwardBatchSize = 5000 };
        using var producer = HubClients.CreateProducer(hub, NullLogger.Instance);
        var forwarder = new OutboxForwarder(store, producer, hub, NullLogger<OutboxForwarder>.Instance);
        settle();
        var clock = Stopwatch.StartNew();
        var sent = 0;
        while (sent < groups)
        {
            var result = await forwarder.ForwardOnceAsync(default);
            sent += result.Acknowledged;
        }

        return sent / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// The gateway module (embedded broker, buffer forced to disk, Normalize and Group, forward to the mock cluster) as
    /// the host runs it (without its meter provider and <c>/metrics</c> server when not <paramref name="metered"/>): messages/s from the first publish until every message's groups are acknowledged (inbox and
    /// outbox empty); <see cref="GatewayBenchmark.Devices"/> monitors publishing QoS 1 with a window each.
    /// </summary>
    private static async Task<double> GatewayEndToEndAsync(int messages, string folder, string bootstrapServers, bool metered, Action settle)
    {
        var port = Ports.Free();
        using var gateway = EndToEndBenchmark.Gateway(folder, port, bootstrapServers, metered);
        await gateway.StartAsync();
        settle();
        var store = gateway.Services.GetRequiredService<GatewayStore>();
        var published = messages / GatewayBenchmark.Devices * GatewayBenchmark.Devices;
        var clock = Stopwatch.StartNew();
        await GatewayBenchmark.PublishAsync(port, messages, Reading);
        while (store.Stats() is { } stats && (stats.Inbox > 0 || stats.Outbox > 0))
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new InvalidOperationException($"The gateway did not forward {published} messages in 5 minutes ({stats.Inbox} in the inbox, {stats.Outbox} in the outbox).");
            }

            await Task.Delay(5);
        }

        var rate = published / clock.Elapsed.TotalSeconds;
        await gateway.StopAsync();
        return store.Stats().DeadLetters == 0 ? rate : throw new InvalidOperationException($"{store.Stats().DeadLetters} dead letters");
    }

    /// <summary>
    /// A monitor's reading of second <paramref name="second"/> (the benchmark payload's shape): each monitor its own
    /// device and each reading its own time, so that a round's group gathers one device's readings of a type from many
    /// messages (its span linking theirs) as on a ward, rather than one reading that every message repeats.
    /// </summary>
    private static byte[] Reading(string device, int second) => System.Text.Encoding.UTF8.GetBytes(
        $"{{\"deviceId\":\"{device}\",\"patientId\":\"bed-{device}\",\"heartRate\":72,\"spo2\":98,\"systolic\":120,\"diastolic\":80,\"respiratoryRate\":16,\"temperature\":36.9," +
        $"\"timestamp\":\"{Epoch.AddSeconds(second).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}\",\"battery\":87,\"signalQuality\":\"good\",\"firmware\":\"4.2.1\"}}");

    private static readonly DateTime Epoch = new(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc);

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static string Runs(List<double> values) => string.Join(", ", values.Select(r => r.ToString("N0", CultureInfo.InvariantCulture)));

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    /// <summary>Counts the spans exported and drops them: what the SDK spends up to the wire.</summary>
    private sealed class CountingExporter : BaseExporter<Activity>
    {
        private long exported;

        public long Exported => Interlocked.Read(ref exported);

        public override ExportResult Export(in Batch<Activity> batch)
        {
            Interlocked.Add(ref exported, batch.Count);
            return ExportResult.Success;
        }
    }
}
