using System.Diagnostics;
using System.Globalization;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>
/// Second hostile review of issue 19's monitoring fixes, through real Kestrel in a real host: what the stale-socket
/// clean-up of the probe socket (<c>Monitoring:ProbeSocket</c>) deletes.
/// </summary>
[Collection(MonitoringCaps.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileReview19Round2MonitoringTests : IDisposable
{
    private readonly int port = Ports.Free();
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile19b-").FullName;

    private string Socket => Path.Combine(folder, "run", "health.sock");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// A stale socket is told by its size (0) and by a connect that is refused. A named pipe (another program's FIFO at a
    /// mistyped path) has size 0 and a Unix-socket connect to it is refused too, so it is deleted as if this code had
    /// left it, though no run of the module can have made it (the same holds for a character device such as /dev/null
    /// when the module runs as root).
    /// </summary>
    [Fact]
    public async Task GivenANamedPipeAtTheSocketPath_WhenTheModuleStarts_ThenItRefusesToStartAndLeavesThePipe()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Socket)!);
        Assert.Equal(0, await RunAsync("mkfifo", Socket));

        using var module = Build();
        var failure = await Record.ExceptionAsync(() => module.StartAsync());
        if (failure is null)
        {
            await module.StopAsync();
        }

        Assert.Equal(0, await RunAsync("test", "-p", Socket));
        Assert.IsType<IOException>(failure);
    }

    private static async Task<int> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        await process.WaitForExitAsync();
        return process.ExitCode;
    }

    private IHost Build()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
            ["Monitoring:ProbeSocket"] = Socket,
        });
        builder.Services.AddMonitoring();
        return builder.Build();
    }
}
