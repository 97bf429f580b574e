using System.Diagnostics;
using System.Text.RegularExpressions;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// Runs the README's commands as printed, so the front door cannot drift from what works: the run command with its
/// publish line, the demo, the export, and the mapping commands. Each runs from a scratch folder (where
/// <c>medtech-data</c> and the export land), so repository paths in them are made absolute; nothing else is changed.
/// The install script and the test command are what <c>.ci/run</c> runs. The run and the demo use the README's fixed
/// ports (1883, 9600), so this class is the only one that may.
/// </summary>
public sealed partial class ReadmeTests : IDisposable
{
    private static readonly string Root = Repository.Root;
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-readme-").FullName;
    private readonly System.Text.StringBuilder printed = new();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenTheReadme_WhenItsRunCommandPublishLineDemoAndExportAreRunAsPrinted_ThenTheReadingsAreObservationsInTheExport()
    {
        Assert.False(Ports.Listening(1883) || Ports.Listening(9600), "Ports 1883 and 9600 must be free for the README's commands (stop a running `medtech run`).");

        using (var run = StartInOwnProcessGroup(Command("dotnet run --project src/MedTech.Edge.Cli -- run")))
        {
            try
            {
                await WaitUntilAsync(() => Ports.Listening(1883) || run.HasExited, TimeSpan.FromMinutes(3));
                Assert.False(run.HasExited, "medtech run ended: " + printed);

                var (published, _, publishError) = await RunAsync(Command("mosquitto_pub -q 1 -t devices/monitor-01/vitals"));
                Assert.True(published == 0, publishError);
                // Five Observations from the six readings (blood pressure is one panel); written once the metrics say so.
                await WaitUntilAsync(async () => await WrittenObservationsAsync() >= 5, TimeSpan.FromSeconds(60));
            }
            finally
            {
                // dotnet run and the medtech process it started are one process group: SIGTERM both, as Ctrl+C would.
                using var kill = Process.Start("kill", $"-TERM -- -{run.Id}");
                await kill.WaitForExitAsync();
                await run.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            }
        }

        var (demo, demoOutput, demoError) = await RunAsync(Command("dotnet run --project src/MedTech.Edge.Cli -- demo"));
        Assert.True(demo == 0, demoOutput + demoError);
        Assert.Contains("Demo summary (4 monitors, 20 s)", demoOutput);
        Assert.Equal(Figure(demoOutput, "messages published"), Figure(demoOutput, "acknowledged by gateway"));
        Assert.Equal(0, Figure(demoOutput, "dead-lettered"));

        var (export, _, exportError) = await RunAsync(Command("dotnet run --project src/MedTech.Edge.Cli -- fhir export"));
        Assert.True(export == 0, exportError);
        var observations = File.ReadAllLines(Path.Combine(folder, "observations.ndjson")).Where(l => l.Contains("\"resourceType\":\"Observation\"", StringComparison.Ordinal)).ToList();
        // The published heart rate (72 at 08:00:00), beside the demo's.
        Assert.Contains(observations, o => o.Contains("\"8867-4\"", StringComparison.Ordinal) && o.Contains("2026-11-24T08:00:00", StringComparison.Ordinal) && o.Contains("\"value\":72", StringComparison.Ordinal));
        Assert.True(observations.Count > 5, $"{observations.Count} Observations exported: the demo's are missing");
    }

    [Fact]
    public async Task GivenTheReadme_WhenItsMappingTestCommandIsRunAsPrinted_ThenItPrintsMeasurementsAndObservationsAndExits0()
    {
        var (exit, output, error) = await RunAsync(Command("dotnet run --project src/MedTech.Edge.Cli -- mapping test"));

        Assert.True(exit == 0, output + error);
        Assert.Contains("\"occurrenceTimeUtc\"", output);
        Assert.Contains("\"resourceType\": \"Observation\"", output);
    }

    [Theory]
    [InlineData("medtech mapping validate")]
    [InlineData("medtech mapping test")]
    [InlineData("medtech mapping import")]
    public async Task GivenTheReadme_WhenItsGeneralMappingCommandsRunOnTheUsersOwnFiles_ThenTheyExit0(string prefix)
    {
        var examples = Path.Combine(Root, "src", "MedTech.Edge.Cli", "Examples");
        File.Copy(Path.Combine(examples, "bedside-monitor.device-mapping.json"), Path.Combine(folder, "devicecontent.json"));
        File.Copy(Path.Combine(examples, "bedside-monitor.fhir-mapping.json"), Path.Combine(folder, "fhirmapping.json"));
        File.Copy(Path.Combine(examples, "bedside-monitor.message.json"), Path.Combine(folder, "message.json"));
        File.Copy(Path.Combine(Root, "tests", "MedTech.Edge.Cli.Tests", "Import", "portal-export.json"), Path.Combine(folder, "medtech-export.json"));
        // The README says `medtech` is `dotnet run --project src/MedTech.Edge.Cli --`, and brackets mark optional arguments.
        var command = Command(prefix).Replace("medtech ", "dotnet run --project src/MedTech.Edge.Cli -- ", StringComparison.Ordinal);
        command = OptionalArgument().Replace(command, "$1").Replace(" --raw", "", StringComparison.Ordinal);

        var (exit, output, error) = await RunAsync(Absolute(command));

        Assert.True(exit == 0, command + Environment.NewLine + output + error);
    }

    /// <summary>The one command in the README's bash blocks that starts with <paramref name="prefix"/>, continuation lines joined, comment cut.</summary>
    private static string Command(string prefix)
    {
        var matches = BashCommands(File.ReadAllText(Path.Combine(Root, "README.md"))).Where(c => c.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.True(matches.Count == 1, $"README: {matches.Count} commands start with '{prefix}'");
        return Absolute(matches[0]);
    }

    private static IEnumerable<string> BashCommands(string markdown)
    {
        foreach (Match block in BashBlock().Matches(markdown))
        {
            var joined = block.Groups[1].Value.Replace("\\\n", " ", StringComparison.Ordinal);
            foreach (var line in joined.Split('\n'))
            {
                var command = TrailingComment().Replace(line, "").Trim();
                if (command.Length > 0)
                {
                    yield return Whitespace().Replace(command, " ");
                }
            }
        }
    }

    /// <summary>Repository paths made absolute, so the command runs from the scratch folder.</summary>
    private static string Absolute(string command) => command.Replace(" src/", $" {Root}/src/", StringComparison.Ordinal);

    /// <summary>Starts a long-running command; what it prints is drained into <see cref="printed"/> (an unread pipe would stall it).</summary>
    private Process StartInOwnProcessGroup(string command)
    {
        var process = Process.Start(new ProcessStartInfo("setsid", ["bash", "-c", "exec " + command]) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true })!;
        process.OutputDataReceived += (_, e) => Print(e.Data);
        process.ErrorDataReceived += (_, e) => Print(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void Print(string? line)
    {
        lock (printed)
        {
            printed.AppendLine(line);
        }
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(string command)
    {
        using var process = Process.Start(new ProcessStartInfo("bash", ["-c", command]) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true })!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    private static async Task<double> WrittenObservationsAsync()
    {
        using var http = new HttpClient();
        string metrics;
        try
        {
            metrics = await http.GetStringAsync(new Uri("http://127.0.0.1:9600/metrics"));
        }
        catch (HttpRequestException)
        {
            return 0; // not serving yet
        }

        return PrometheusText.Parse(metrics).Values.Where(f => f.Name.StartsWith("medtech_edge_writer_observations", StringComparison.Ordinal))
            .SelectMany(f => f.Samples).Where(x => x.Labels.TryGetValue("outcome", out var outcome) && outcome is "created" or "updated").Sum(x => x.Value);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan limit) => await WaitUntilAsync(() => Task.FromResult(condition()), limit);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan limit)
    {
        for (var deadline = DateTime.UtcNow + limit; !await condition(); await Task.Delay(200))
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within {limit}");
        }
    }

    private static int Figure(string output, string label) =>
        int.Parse(output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith(label, StringComparison.Ordinal))[label.Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@"```bash\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex BashBlock();

    // A comment is a '#' after two or more spaces (the README aligns them); none of its commands has one inside quotes.
    [GeneratedRegex(@"\s{2,}#.*$")]
    private static partial Regex TrailingComment();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"\[([^\]]+)\]")]
    private static partial Regex OptionalArgument();
}
