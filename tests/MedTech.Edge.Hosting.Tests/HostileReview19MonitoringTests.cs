using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>A hostile review of issue 19's monitoring endpoint, through the real Kestrel endpoint in a real host.</summary>
[Collection(MonitoringCaps.Collection)]
public sealed class HostileReview19MonitoringTests : IDisposable
{
    private readonly int port = Ports.Free();
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-review19-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// The review found that one process with Monitoring:MaxConnections (32) keep-alive connections turned the health probe
    /// (the image's HEALTHCHECK) away, so the container was marked unhealthy. Any finite cap on the network port can be held
    /// by whoever reaches it (here from 32 addresses, so the per-address cap does not stop them, each holding its connection
    /// with a second request whose headers never end), so the probe no longer shares that door: it asks the module's Unix
    /// socket, which has places of its own. The review's own assertion (a TCP client answered while the door is full)
    /// cannot hold for any cap, so the door being full is asserted instead, and the probe being answered.
    /// </summary>
    [Fact]
    public async Task GivenClientsHoldingEveryConnectionWithKeepAliveRequests_WhenTheProbeAsksForHealth_ThenItIsAnswered()
    {
        using var module = await StartAsync();
        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 32; i++)
            {
                held.Add(await MonitoringCaps.HoldAsync(MonitoringCaps.Loopback(2 + i), port));
            }

            // The door is full: a 33rd client, from yet another address, is closed without an answer.
            Assert.Null(await MonitoringCaps.AskAsync(MonitoringCaps.Loopback(40), port));

            using var output = new StringWriter();
            var exit = await HealthProbe.RunAsync(Configuration(), output);

            Assert.True(exit == 0, output.ToString());
            Assert.Contains("\"Healthy\"", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }
    }

    private IConfiguration Configuration() => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
        ["Monitoring:BindAddress"] = "127.0.0.1",
        ["Monitoring:ProbeSocket"] = Path.Combine(folder, "run", "health.sock"),
        // The held requests wait for their headers this long, not the 5-second default: the test must not race it.
        ["Monitoring:RequestHeadersTimeout"] = "00:05:00",
    }).Build();

    private async Task<IHost> StartAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(Configuration());
        builder.Services.AddMonitoring();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
