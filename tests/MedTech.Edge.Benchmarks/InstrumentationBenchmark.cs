using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// What the instrumentation costs, off and on in the same run: each row alternates without listeners (as a module
/// runs without <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> and nothing scraping) and with a tracer provider recording every
/// span of the pipeline's sources (always-on sampler, batch processor, an exporter that drops) and a meter provider
/// reading the modules' meters each second, and prints the medians and on/off. Rows: (b) MQTT publish → committed →
/// acknowledged (ingest spans); Normalize and Group from the inbox into the outbox (normalize and group spans, the
/// stored traceparents); forward of the outbox to the mock Kafka cluster (forward spans, W3C headers).
/// </summary>
internal static class InstrumentationBenchmark
{
    public static async Task RunAsync(int messages, int repeats)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-instr-bench-").FullName;
        try
        {
            Console.WriteLine($"Instrumentation benchmark: {messages:N0} messages per row, {repeats} alternations off/on, medians; .NET {Environment.Version}");
            using var cluster = MockClusterProcess.Start("measurements");
            var rows = new (string Name, Func<string, Task<double>> Run)[]
            {
                ("(b) publish -> committed -> acked, msg/s", f => GatewayBenchmark.GatewayIngestAsync(messages, GatewayBenchmark.Payload, f, forceToDisk: true)),
                ("Normalize+Group inbox -> outbox, msg/s", f => NormalizeAsync(messages, f)),
                ("forward outbox -> mock Kafka, groups/s", f => ForwardAsync(messages, f, cluster.BootstrapServers)),
            };

            // Warm-up of every path, both ways, not counted.
            foreach (var (_, run) in rows)
            {
                await Timed(run, folder, on: false);
                await Timed(run, folder, on: true);
            }

            Console.WriteLine($"{"row",-42} {"off",12} {"on",12} {"on/off",8}");
            foreach (var (name, run) in rows)
            {
                var off = new List<double>();
                var on = new List<double>();
                for (var i = 0; i < repeats; i++)
                {
                    off.Add(await Timed(run, folder, on: false));
                    on.Add(await Timed(run, folder, on: true));
                }

                var (offMedian, onMedian) = (Median(off), Median(on));
                Console.WriteLine($"{name,-42} {offMedian,12:N0} {onMedian,12:N0} {onMedian / offMedian,8:P1}   (off {string.Join(", ", off.Select(r => r.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))}; on {string.Join(", ", on.Select(r => r.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))})");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<double> Timed(Func<string, Task<double>> run, string folder, bool on)
    {
        var own = Directory.CreateDirectory(Path.Combine(folder, Guid.NewGuid().ToString("N"))).FullName;
        using var listeners = on ? Listen() : null;
        if (on != PipelineTracing.Gateway.HasListeners())
        {
            throw new InvalidOperationException("The tracing listener is not as the row needs it.");
        }

        var rate = await run(own);
        Directory.Delete(own, recursive: true);
        return rate;
    }

    /// <summary>What an operator switches on: every span recorded and exported in batches, every module meter read each second.</summary>
    private static Both Listen()
    {
        var tracing = Sdk.CreateTracerProviderBuilder().AddSource(MonitoringExtensions.MeterPrefix + "*").SetSampler(new AlwaysOnSampler())
            .AddProcessor(new BatchActivityExportProcessor(new DroppingExporter<Activity>())).Build();
        var metrics = Sdk.CreateMeterProviderBuilder().AddMeter(MonitoringExtensions.MeterPrefix + "*")
            .AddReader(new PeriodicExportingMetricReader(new DroppingExporter<Metric>(), 1000)).Build();
        return new Both(tracing, metrics);
    }

    /// <summary>Inbox messages as ingest stores them (through <see cref="TracedInbox"/>), then timed: the stage until the inbox is empty.</summary>
    private static async Task<double> NormalizeAsync(int messages, string folder)
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "normalize.db"), MaxMessages = messages * 2L, ForceToDisk = false };
        using var store = new GatewayStore(options);
        var writer = new InboxWriter(store, options);
        using var stop = new CancellationTokenSource();
        var commits = writer.RunAsync(stop.Token);
        var inbox = new TracedInbox(writer);
        await Task.WhenAll(Enumerable.Range(0, messages).Select(i => inbox.AppendAsync(
            new InboxMessage($"monitor-{i % 50}", $"devices/monitor-{i % 50}/vitals", GatewayBenchmark.Payload, DateTime.UtcNow, new Dictionary<string, string>()), default)));
        await stop.CancelAsync();
        await commits;

        using var metrics = new GatewayMetrics(store);
        var mapping = DeviceMappingSource.Load(Repository.PathOf("src", "MedTech.Edge.Cli", "Mappings", "vital-signs.device-mapping.json"), NullLogger<DeviceMappingSource>.Instance, metrics);
        var stage = new NormalizationStage(store, mapping, NullLogger<NormalizationStage>.Instance, metrics);
        var clock = Stopwatch.StartNew();
        var taken = 0;
        for (int round; (round = stage.RunOnce(new GatewayOptions().NormalizationBatchSize)) > 0;)
        {
            taken += round;
        }

        return taken == messages ? taken / clock.Elapsed.TotalSeconds : throw new InvalidOperationException($"{taken} of {messages} normalized");
    }

    /// <summary>An outbox of groups as Normalize stores them (a traceparent each while spans are recorded), then timed: forwarded until empty.</summary>
    private static async Task<double> ForwardAsync(int groups, string folder, string bootstrapServers)
    {
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "forward.db"), MaxMessages = groups * 2L, ForceToDisk = false });
        const int PerRound = 500;
        for (var at = 0; at < groups; at += PerRound)
        {
            var entries = Enumerable.Range(at, Math.Min(PerRound, groups - at)).Select(i =>
            {
                using var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, "group", ActivityKind.Internal, default);
                return new OutboxEntry($"monitor-{i % 200}", GatewayBenchmark.Payload, DateTime.UtcNow) { TraceParent = span is null ? null : PipelineTracing.Format(span.Context) };
            }).ToList();
            store.CompleteNormalization([], entries, []);
        }

        var hub = new HubOptions { BootstrapServers = bootstrapServers, Topic = "measurements", ForwardBatchSize = 5000 };
        using var producer = HubClients.CreateProducer(hub, NullLogger.Instance);
        var forwarder = new OutboxForwarder(store, producer, hub, NullLogger<OutboxForwarder>.Instance);
        var clock = Stopwatch.StartNew();
        var sent = 0;
        while (sent < groups)
        {
            var result = await forwarder.ForwardOnceAsync(default);
            sent += result.Acknowledged;
        }

        return sent / clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private sealed class DroppingExporter<T> : BaseExporter<T>
        where T : class
    {
        public override ExportResult Export(in Batch<T> batch)
        {
            foreach (var item in batch)
            {
                GC.KeepAlive(item);
            }

            return ExportResult.Success;
        }
    }

    private sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }
}
