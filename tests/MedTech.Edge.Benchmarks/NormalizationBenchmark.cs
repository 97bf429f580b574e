using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// Normalization throughput on one thread, bytes in → measurements out (parsing included), next to the cost of
/// only parsing the same bytes with System.Text.Json, measured in the same run.
/// </summary>
internal static class NormalizationBenchmark
{
    public static void Run(double seconds)
    {
        var bench = Path.Combine(MedTech.Edge.Testing.ReferenceDirectory.Locate(), "bench");
        var message = File.ReadAllBytes(Path.Combine(bench, "message-bedside-monitor.json"));
        var ingested = DateTime.UtcNow;

        Console.WriteLine($"Normalization benchmark: {message.Length}-byte bedside-monitor message, one thread, {seconds} s per row, .NET {Environment.Version}");
        var parse = Measure(() => { using var _ = JsonDocument.Parse(message); return 0; }, seconds);
        Console.WriteLine($"{"input",-42} {"msg/s",12} {"measurements/s",15} {"vs raw parse",13}");
        Console.WriteLine($"{"System.Text.Json JsonDocument.Parse only",-42} {parse.PerSecond,12:N0} {"-",15} {"100.0%",13}");

        // Upstream (iomt-fhir built from source, same message, this machine): reference/README.md.
        var upstream = new Dictionary<string, double>
        {
            ["device-mapping-calculated-jsonpath.json"] = 10_800,
            ["device-mapping-calculated-jmespath.json"] = 13_600,
            ["device-mapping-jsonpathcontent.json"] = 13_500,
        };
        foreach (var (file, upstreamRate) in upstream)
        {
            var normalizer = new Normalizer(DeviceMapping.Load(Path.Combine(bench, file)).EnsureValid(file));
            var perMessage = normalizer.Normalize(new DeviceMessage(message, ingested)).Measurements.Count;
            var run = Measure(() => normalizer.Normalize(new DeviceMessage(message, ingested)).Measurements.Count, seconds);
            Console.WriteLine(
                $"{file,-42} {run.PerSecond,12:N0} {run.PerSecond * perMessage,15:N0} {run.PerSecond / parse.PerSecond,13:P1}" +
                $"   ({run.PerSecond / upstreamRate:F1}× upstream's {upstreamRate:N0} msg/s)");
        }
    }

    private static (double PerSecond, long Count) Measure(Func<int> action, double seconds)
    {
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed.TotalSeconds < Math.Min(1, seconds / 2))
        {
            action();
        }

        long count = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (var i = 0; i < 100; i++)
            {
                action();
            }

            count += 100;
        }

        return (count / clock.Elapsed.TotalSeconds, count);
    }
}
