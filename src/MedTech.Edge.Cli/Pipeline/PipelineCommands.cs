using System.CommandLine;
using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Standalone.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Cli.Pipeline;

/// <summary><c>medtech run</c> (the whole pipeline in one process) and <c>medtech demo</c> (the same, fed by simulated bedside monitors).</summary>
internal static class PipelineCommands
{
    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var data = new Option<string>("--data") { Description = "Folder for the LiteDB buffer and the local FHIR store.", DefaultValueFactory = _ => "medtech-data" };
        var port = new Option<int>("--mqtt-port") { Description = "MQTT port for bedside devices.", DefaultValueFactory = _ => 1883 };
        var deviceMapping = new Option<string>("--device-mapping") { Description = "Device mapping (default: the bundled vital-signs mapping).", DefaultValueFactory = _ => EmbeddedPipeline.BundledMapping("device-mapping") };
        var fhirMapping = new Option<string>("--fhir-mapping") { Description = "FHIR destination mapping (default: the bundled vital-signs mapping).", DefaultValueFactory = _ => EmbeddedPipeline.BundledMapping("fhir-mapping") };
        var fhirUrl = new Option<Uri?>("--fhir-url")
        {
            Description = "Persist to this FHIR server instead of the local store (credentials: FhirServer__* environment variables).",
            // System.CommandLine has no parser of its own for Uri.
            CustomParser = result =>
            {
                var text = result.Tokens.Single().Value;
                if (Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
                {
                    return url;
                }

                result.AddError($"--fhir-url must be an absolute http or https URL, not '{text}'.");
                return null;
            },
        };
        var metricsPort = new Option<int>("--metrics-port") { Description = "Port of /metrics and /health on 127.0.0.1; 0 turns them off.", DefaultValueFactory = _ => 9600 };
        RunSettings Settings(ParseResult parsed) => new(parsed.GetValue(data)!, parsed.GetValue(port), parsed.GetValue(deviceMapping)!,
            parsed.GetValue(fhirMapping)!, parsed.GetValue(fhirUrl), parsed.GetValue(metricsPort));

        var run = new Command("run", "Run gateway and FHIR writer in one process: MQTT in, FHIR Observations out. Stops on Ctrl+C or SIGTERM.")
        {
            data, port, deviceMapping, fhirMapping, fhirUrl, metricsPort,
        };
        run.SetAction(async (parsed, cancellationToken) =>
        {
            var settings = Settings(parsed);
            using var host = EmbeddedPipeline.Build(settings);
            WriteBanner(output, settings);
            return await host.RunModuleAsync(error, cancellationToken).ConfigureAwait(false);
        });

        var devices = new Option<int>("--devices") { Description = "Simulated bedside monitors, one patient each.", DefaultValueFactory = _ => 4 };
        var rate = new Option<double>("--rate") { Description = "Messages per second, all monitors together; each carries 6 vital-sign readings. Upstream identifies a periodInterval-0 Observation to the second, so keep one message per monitor per second or less.", DefaultValueFactory = _ => 4 };
        var duration = new Option<int>("--duration") { Description = "Seconds to publish.", DefaultValueFactory = _ => 20 };
        var drain = new Option<int>("--drain-timeout") { Description = "Seconds to wait, after publishing, for what is still in the buffer to be written.", DefaultValueFactory = _ => 60 };
        var demo = new Command("demo", "Run the pipeline with simulated bedside monitors publishing over MQTT, then print what happened.")
        {
            data, port, deviceMapping, fhirMapping, fhirUrl, metricsPort, devices, rate, duration, drain,
        };
        demo.SetAction(async (parsed, cancellationToken) =>
        {
            if (parsed.GetValue(devices) < 1 || parsed.GetValue(rate) <= 0 || parsed.GetValue(duration) < 1 || parsed.GetValue(drain) < 0)
            {
                await error.WriteLineAsync("medtech: --devices, --rate and --duration must be positive, --drain-timeout not negative.").ConfigureAwait(false);
                return MedTechCommand.UsageError;
            }

            var settings = Settings(parsed);
            using var host = EmbeddedPipeline.Build(settings);
            WriteBanner(output, settings);
            var timing = new DemoTiming(TimeSpan.FromSeconds(parsed.GetValue(duration)), TimeSpan.FromSeconds(parsed.GetValue(drain)));
            return await DemoAsync(host, settings, parsed.GetValue(devices), parsed.GetValue(rate), timing, output, error, cancellationToken).ConfigureAwait(false);
        });

        return [run, demo];
    }

    /// <summary>How long the demo publishes, and then waits at most for the buffer to drain into FHIR.</summary>
    private sealed record DemoTiming(TimeSpan Duration, TimeSpan Drain);

    private static async Task<int> DemoAsync(IHost host, RunSettings settings, int devices, double rate, DemoTiming timing, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var totals = new PipelineTotals();
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Microsoft.Extensions.Options.OptionsValidationException or MedTech.Edge.Mapping.Templates.InvalidMappingException or IOException)
        {
            await error.WriteLineAsync($"medtech: the pipeline did not start: {ex.Message}").ConfigureAwait(false);
            return MedTechCommand.UsageError;
        }

        var monitors = new BedsideMonitors(settings.MqttPort, devices, rate);
        using var publishing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        publishing.CancelAfter(timing.Duration);
        var clock = Stopwatch.StartNew();
        var publisher = monitors.RunAsync(publishing.Token);
        var store = host.Services.GetRequiredService<IBufferUpkeep>();

        // Progress each second while publishing, then until the buffer is drained into FHIR or the drain time is up.
        var announced = false;
        while (!cancellationToken.IsCancellationRequested && (!publisher.IsCompleted || !Drained(store)) && clock.Elapsed < timing.Duration + timing.Drain)
        {
            if (publisher.IsCompleted && !announced)
            {
                announced = true;
                await output.WriteLineAsync($"Publishing done; waiting up to {timing.Drain.TotalSeconds:F0} s for {Pending(store)} (--drain-timeout).").ConfigureAwait(false);
            }

            await Task.WhenAny(publisher, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)).ConfigureAwait(false);
            await output.WriteLineAsync($"{clock.Elapsed.TotalSeconds,4:F0} s  published {monitors.Published}  acknowledged {monitors.Acknowledged}  normalized {totals.Normalized}  Observations written {totals.ObservationsWritten}").ConfigureAwait(false);
        }

        await publisher.ConfigureAwait(false);
        await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        // Read after the stop: what the writer finished while stopping is no longer pending.
        var drained = Drained(store);
        await output.WriteLineAsync($"""

            Demo summary ({devices} monitors, {timing.Duration.TotalSeconds:F0} s)
              messages published      {monitors.Published}
              acknowledged by gateway {monitors.Acknowledged}
              normalized              {totals.Normalized}
              dead-lettered           {totals.DeadLettered}
              forwarded (groups)      {totals.Forwarded}
              Observations written    {totals.ObservationsWritten}
              still in the buffer     {(drained ? "nothing" : Pending(store) + "; the next medtech run on this folder writes them")}
            {Where(settings)}
            """).ConfigureAwait(false);
        return drained && totals.DeadLettered == 0 && monitors.Acknowledged == monitors.Published ? MedTechCommand.Success : MedTechCommand.InputErrors;
    }

    private static bool Drained(IBufferUpkeep store) => store.Stats() is { Inbox: 0, Outbox: 0 };

    private static string Pending(IBufferUpkeep store)
    {
        var stats = store.Stats();
        return $"{stats.Inbox} messages to normalize and {stats.Outbox} groups to write";
    }

    private static void WriteBanner(TextWriter output, RunSettings settings) => output.WriteLine(
        $"MedTech.Edge: MQTT on port {settings.MqttPort}, buffer in {Path.GetFullPath(settings.Data)}, " +
        $"FHIR {(settings.FhirUrl is null ? "local store" : settings.FhirUrl.AbsoluteUri)}." +
        (settings.MetricsPort == 0 ? "" : $" Metrics: http://127.0.0.1:{settings.MetricsPort}/metrics, health: /health" +
            (settings.ProbeSocket is { } socket ? $" (also on the socket {socket})." : ".")));

    private static string Where(RunSettings settings) => settings.FhirUrl is null
        ? $"Observations, Patients and Devices: medtech fhir export --data {settings.Data} --out observations.ndjson"
        : $"Observations: {settings.FhirUrl.AbsoluteUri.TrimEnd('/')}/Observation";
}
