using System.Net;
using System.Text.Json;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Hosting.Tests;

public sealed class MonitoringServerTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task GivenALoopbackBindAddress_WhenHealthIsAskedForByEitherLoopbackName_ThenItAnswers(string host)
    {
        var port = Ports.Free();
        var health = new ModuleHealth();
        health.Degraded("hub", "unreachable");
        using var services = new ServiceCollection().BuildServiceProvider();
        using var server = new MonitoringServer(Options.Create(new MonitoringOptions { Port = port, BindAddress = "127.0.0.1" }), health, services, NullLogger<MonitoringServer>.Instance);
        await server.StartAsync(CancellationToken.None);
        try
        {
            using var http = new HttpClient();
            using var response = await http.GetAsync(new Uri($"http://{host}:{port}/health"));
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Degraded", body.GetProperty("status").GetString());
            Assert.Equal("unreachable", body.GetProperty("components").GetProperty("hub").GetProperty("reason").GetString());
        }
        finally
        {
            await server.StopAsync(CancellationToken.None);
        }
    }
}
