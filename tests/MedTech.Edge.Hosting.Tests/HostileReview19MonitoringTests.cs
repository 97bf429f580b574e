using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>A hostile review of issue 19's monitoring endpoint, through the real Kestrel endpoint in a real host.</summary>
public sealed class HostileReview19MonitoringTests
{
    private readonly int port = Ports.Free();

    /// <summary>
    /// One client cannot block /health, but one process with Monitoring:MaxConnections (32) keep-alive connections can:
    /// each asks once and then holds its connection, asking again within Kestrel's 30-second keep-alive, and the health
    /// probe (the image's HEALTHCHECK, IoT Edge's metrics-collector) is turned away, so the container is marked unhealthy.
    /// </summary>
    [Fact]
    public async Task GivenAClientHoldingEveryConnectionWithKeepAliveRequests_WhenTheProbeAsksForHealth_ThenItIsAnswered()
    {
        using var module = await StartAsync();
        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 32; i++)
            {
                var client = new TcpClient();
                held.Add(client);
                await client.ConnectAsync(IPAddress.Loopback, port);
                var stream = client.GetStream();
                await stream.WriteAsync("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"u8.ToArray());

                // The answer's headers: the connection is served and now idles in keep-alive.
                var buffer = new byte[4096];
                var read = await stream.ReadAsync(buffer);
                Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            HttpStatusCode? code = null;
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/health"));
                code = response.StatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Turned away: what the test is about.
            }

            Assert.Equal(HttpStatusCode.OK, code);
        }
        finally
        {
            held.ForEach(c => c.Dispose());
        }
    }

    private async Task<IHost> StartAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
        });
        builder.Services.AddMonitoring();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
