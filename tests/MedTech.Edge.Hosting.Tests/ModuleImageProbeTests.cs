using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>
/// The command each module image's HEALTHCHECK runs, read from its Dockerfiles and run from the module's build output with
/// the images' environment, against a served endpoint whose network places are all held. (No Docker daemon here: the
/// image's own folder, /app/run, is mapped to a temporary one; the command, its arguments and its settings are the image's.)
/// </summary>
[Collection(MonitoringCaps.Collection)]
public sealed partial class ModuleImageProbeTests : IDisposable
{
    private readonly int port = Ports.Free();
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-image-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData("EdgeGateway")]
    [InlineData("FhirWriter")]
    public async Task GivenAModuleImage_WhenItsHealthcheckCommandRunsWithTheNetworkPlacesHeld_ThenItAsksTheSocketAndExits0And1OnceNothingServes(string module)
    {
        var (command, environment, runFolder) = Image(module);
        var socketInImage = environment["Monitoring__ProbeSocket"];
        Assert.Equal(runFolder, Path.GetDirectoryName(socketInImage));
        var socket = Path.Combine(folder, "run", Path.GetFileName(socketInImage));

        var held = new List<TcpClient>();
        int served;
        string servedOutput;
        using (var host = await StartAsync(socket))
        {
            try
            {
                for (var i = 0; i < 32; i++)
                {
                    held.Add(await MonitoringCaps.HoldAsync(MonitoringCaps.Loopback(2 + i), port));
                }

                Assert.Null(await MonitoringCaps.AskAsync(MonitoringCaps.Loopback(40), port));
                (served, servedOutput) = await RunAsync(module, command, environment, socket);
            }
            finally
            {
                held.ForEach(c => c.Dispose());
            }

            await host.StopAsync();
        }

        var (gone, goneOutput) = await RunAsync(module, command, environment, socket);

        Assert.True(served == 0, servedOutput);
        Assert.Contains("\"Healthy\"", servedOutput, StringComparison.Ordinal);
        Assert.True(gone == 1, goneOutput);
        Assert.Contains("no answer from unix socket", goneOutput, StringComparison.Ordinal);
    }

    /// <summary>The HEALTHCHECK command (the same in both platforms' Dockerfiles), the ENV settings, and the run folder the image makes 0700 for its user.</summary>
    private static (string[] Command, Dictionary<string, string> Environment, string RunFolder) Image(string module)
    {
        var images = new[] { "Dockerfile.amd64", "Dockerfile.arm64v8" }.Select(f => File.ReadAllLines(Repository.PathOf("modules", module, f))).ToList();
        Assert.Equal(images[0].Where(Relevant), images[1].Where(Relevant));
        var lines = images[0];
        var healthcheck = lines.Single(l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal));
        var command = JsonSerializer.Deserialize<string[]>(healthcheck[(healthcheck.IndexOf(" CMD ", StringComparison.Ordinal) + 5)..])!;
        Assert.Equal("dotnet", command[0]);
        Assert.Equal(HealthProbe.Argument, command[^1]);
        var environment = lines.Where(l => l.StartsWith("ENV ", StringComparison.Ordinal))
            .Select(l => l[4..].Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var run = RunFolder().Match(string.Join("\n", lines));
        Assert.True(run.Success, "the image makes no run folder 0700 for its user");
        return (command, environment, run.Groups["folder"].Value);
    }

    private static bool Relevant(string line) => line.StartsWith("HEALTHCHECK", StringComparison.Ordinal) || line.StartsWith("ENV", StringComparison.Ordinal) || line.StartsWith("RUN mkdir", StringComparison.Ordinal);

    private async Task<(int Exit, string Output)> RunAsync(string module, string[] command, Dictionary<string, string> environment, string socket)
    {
        var moduleFolder = Path.Combine(Repository.Root, "modules", module, "bin", new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name, "net10.0");
        var start = new ProcessStartInfo(command[0]) { WorkingDirectory = moduleFolder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command[1..])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        start.Environment["Monitoring__ProbeSocket"] = socket;
        start.Environment["Monitoring__Port"] = port.ToString(CultureInfo.InvariantCulture);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    private async Task<IHost> StartAsync(string socket)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
            ["Monitoring:ProbeSocket"] = socket,
            ["Monitoring:RequestHeadersTimeout"] = "00:05:00",
        });
        builder.Services.AddMonitoring();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    [GeneratedRegex(@"^RUN mkdir -p [^\n]*?(?<folder>/app/run)\b[^\n]*chown \$APP_UID [^\n]*\k<folder>\b[^\n]*chmod 700 [^\n]*\k<folder>\b", RegexOptions.Multiline)]
    private static partial Regex RunFolder();
}
