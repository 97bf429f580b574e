using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// Normalization throughput on one thread, bytes in → measurements out (parsing included), next to the cost of
/// only parsing the same bytes with System.Text.Json, measured in the same run.
/// </summary>
internal static class NormalizationBenchmark
{
    // The three mappings describe the same five vitals three ways; a ratio here is only ever to the raw parse
    // measured just before, on the same machine in the same run. Figures from elsewhere belong in the docs.
    private static readonly string[] Mappings =
        ["device-mapping-calculated-jsonpath.json", "device-mapping-calculated-jmespath.json", "device-mapping-jsonpathcontent.json"];

    public static void Run(double seconds)
    {
        var inputs = Repository.PathOf("tests", "MedTech.Edge.Benchmarks", "Inputs");
        var message = File.ReadAllBytes(Path.Combine(inputs, "message-bedside-monitor.json"));
        var ingested = DateTime.UtcNow;

        Console.WriteLine($"Normalization benchmark: {message.Length}-byte bedside-monitor message, one thread, {seconds} s per row, .NET {Environment.Version}");
        var parse = Measure(() => { using var _ = JsonDocument.Parse(message); return 0; }, seconds);
        Console.WriteLine($"{"input",-42} {"msg/s",12} {"measurements/s",15} {"vs raw parse",13}");
        Console.WriteLine($"{"System.Text.Json JsonDocument.Parse only",-42} {parse.PerSecond,12:N0} {"-",15} {"100.0%",13}");

        foreach (var file in Mappings)
        {
            var normalizer = new Normalizer(DeviceMapping.Load(Path.Combine(inputs, file)).EnsureValid(file));
            var perMessage = normalizer.Normalize(new DeviceMessage(message, ingested)).Measurements.Count;
            var run = Measure(() => normalizer.Normalize(new DeviceMessage(message, ingested)).Measurements.Count, seconds);
            Console.WriteLine($"{file,-42} {run.PerSecond,12:N0} {run.PerSecond * perMessage,15:N0} {run.PerSecond / parse.PerSecond,13:P1}");
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
