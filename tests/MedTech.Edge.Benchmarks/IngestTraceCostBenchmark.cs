using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// What tracing adds to one reading at ingest, the one stage an unsampled reading still pays for (its propagation-only
/// ingest span): <see cref="TracedInbox"/> over an inbox that takes the message at once, one thread, CPU time per
/// message with nothing listening, with the 10 % sampler and with every span recorded (batch export to an exporter
/// that drops). Rounds alternate the three ways; medians. Against what a message costs the gateway end to end (the
/// instrumentation benchmark's CPU ms per message), this is the floor of the sampled overhead.
/// </summary>
internal static class IngestTraceCostBenchmark
{
    public static void Run(int messages, int rounds)
    {
        var inbox = new TracedInbox(new TakingInbox());
        var message = new InboxMessage("monitor-1", "devices/monitor-1/vitals", GatewayBenchmark.Payload, DateTime.UtcNow, new Dictionary<string, string>());
        var ways = new (string Name, Func<TracerProvider?> Tracing)[]
        {
            ("nothing listening", () => null),
            ("sampled 10 %", () => Provider(new ParentBasedSampler(new TraceIdRatioBasedSampler(0.1)))),
            ("every span", () => Provider(new AlwaysOnSampler())),
        };
        var results = ways.ToDictionary(w => w.Name, _ => new List<double>());
        Append(inbox, message, messages); // warm-up (tiered JIT)
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (name, tracing) in ways)
            {
                using var provider = tracing();
                Append(inbox, message, messages / 10); // the way's own warm-up
                GC.Collect();
                var before = Process.GetCurrentProcess().TotalProcessorTime;
                Append(inbox, message, messages);
                provider?.ForceFlush();
                results[name].Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds * 1e6 / messages);
            }
        }

        Console.WriteLine($"Ingest tracing cost: {messages:N0} messages x {rounds} rounds, CPU ns per message (process, export included), medians; load average {File.ReadAllText("/proc/loadavg")[..14]}");
        foreach (var (name, _) in ways)
        {
            var sorted = results[name].Order().ToList();
            Console.WriteLine($"  {name,-18} {sorted[sorted.Count / 2],8:N0} ns   (runs {string.Join(", ", results[name].Select(r => r.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))})");
        }
    }

    private static void Append(TracedInbox inbox, InboxMessage message, int count)
    {
        for (var i = 0; i < count; i++)
        {
            inbox.AppendAsync(message, default).GetAwaiter().GetResult();
        }
    }

    private static TracerProvider Provider(Sampler sampler) => Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Gateway.Name).SetSampler(sampler)
        .AddProcessor(new BatchActivityExportProcessor(new DroppingExporter())).Build();

    /// <summary>An inbox that takes every message at once (the buffer's own cost left out).</summary>
    private sealed class TakingInbox : IInbox
    {
        private long id;

        public string? Fault => null;

        public Task<long> AppendAsync(InboxMessage message, CancellationToken cancellationToken) => Task.FromResult(++id);
    }

    private sealed class DroppingExporter : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch) => ExportResult.Success;
    }
}
