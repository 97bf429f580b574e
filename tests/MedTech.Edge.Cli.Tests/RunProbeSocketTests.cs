using System.Diagnostics;
using System.Globalization;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;

namespace MedTech.Edge.Cli.Tests;

/// <summary><c>medtech run</c>'s health socket in its data folder, through real processes, one of them killed.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RunProbeSocketTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-sock-").FullName;
    private readonly int metricsPort = Ports.Free();

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Data => Path.Combine(folder, "data");

    private string Socket => Path.Combine(Data, "health.sock");

    [Fact]
    public async Task GivenARunKilledWithSigkill_WhenRunStartsAgain_ThenItReplacesTheStaleSocketAndTheProbeIsAnsweredThere()
    {
        using (var killed = Start())
        {
            try
            {
                await WaitForProbeAsync(killed);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Socket));
            }
            finally
            {
                killed.Kill();
                await killed.WaitForExitAsync();
            }
        }

        // SIGKILL unlinks nothing: the socket file is there and nobody listens on it.
        Assert.True(File.Exists(Socket));
        Assert.Equal(1, (await ProbeAsync()).Exit);

        using var again = Start();
        try
        {
            await WaitForProbeAsync(again);
            Assert.Contains($"(also on the socket {Socket})", await again.StandardOutput.ReadLineAsync(), StringComparison.Ordinal);
            var (exit, output) = await ProbeAsync();

            Assert.True(exit == 0, output);
            Assert.Contains("\"status\"", output, StringComparison.Ordinal);
        }
        finally
        {
            again.Kill();
            await again.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task GivenADataFolderTooLongForASocketPath_WhenRunStarts_ThenItRunsWithoutTheSocketAndAnswersOnTheMetricsPort()
    {
        var deep = Path.Combine(folder, new string('d', MonitoringOptions.MaxProbeSocketPathBytes));
        using var run = Start(deep);
        try
        {
            for (var deadline = DateTime.UtcNow.AddSeconds(60); (await ProbeAsync(socket: null)).Exit != 0; await Task.Delay(200))
            {
                Assert.False(DateTime.UtcNow > deadline || run.HasExited, "medtech run did not answer: " + (run.HasExited ? await run.StandardError.ReadToEndAsync() : ""));
            }

            Assert.False(File.Exists(Path.Combine(deep, "health.sock")));
        }
        finally
        {
            run.Kill();
            await run.WaitForExitAsync();
        }
    }

    private Process Start(string? data = null) => Process.Start(new ProcessStartInfo("dotnet",
        $"\"{Path.Combine(AppContext.BaseDirectory, "medtech.dll")}\" run --data \"{data ?? Data}\" --mqtt-port {Ports.Free()} --metrics-port {metricsPort}")
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    })!;

    /// <summary>Until the run answers the probe on its socket (it has started), or fails the test when it exits or takes a minute.</summary>
    private async Task WaitForProbeAsync(Process run)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(60); (await ProbeAsync()).Exit != 0; await Task.Delay(200))
        {
            Assert.False(DateTime.UtcNow > deadline || run.HasExited, "medtech run did not answer on its socket: " + (run.HasExited ? await run.StandardError.ReadToEndAsync() : ""));
        }
    }

    private async Task<(int Exit, string Output)> ProbeAsync() => await ProbeAsync(Socket);

    private async Task<(int Exit, string Output)> ProbeAsync(string? socket)
    {
        using var output = new StringWriter();
        var exit = await HealthProbe.RunAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = metricsPort.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:ProbeSocket"] = socket,
        }).Build(), output);
        return (exit, output.ToString());
    }
}
