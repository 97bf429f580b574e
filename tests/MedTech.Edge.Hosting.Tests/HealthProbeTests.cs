using System.Globalization;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>The image health check's probe against a real running endpoint.</summary>
public sealed class HealthProbeTests
{
    private readonly int port = Ports.Free();

    [Fact]
    public async Task GivenARunningModule_WhenProbed_Then0WhileHealthyOrDegradedAnd1WhenUnhealthy()
    {
        using var module = Build();
        await module.StartAsync();
        var health = module.Services.GetRequiredService<ModuleHealth>();

        var healthy = await ProbeAsync(Configuration("+"));
        health.Degraded("hub", "unreachable");
        var degraded = await ProbeAsync(Configuration("127.0.0.1"));
        health.Unhealthy("buffer", "disk full");
        var unhealthy = await ProbeAsync(Configuration("127.0.0.1"));

        Assert.Equal(0, healthy.Exit);
        Assert.Equal(0, degraded.Exit);
        Assert.Contains("\"Degraded\"", degraded.Output, StringComparison.Ordinal);
        Assert.Equal(1, unhealthy.Exit);
        Assert.Contains("disk full", unhealthy.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GivenNothingListening_WhenProbed_Then1()
    {
        var (exit, output) = await ProbeAsync(Configuration("127.0.0.1"));

        Assert.Equal(1, exit);
        Assert.StartsWith("unhealthy: no answer", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GivenMonitoringOff_WhenProbed_Then0()
    {
        var (exit, _) = await ProbeAsync(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Monitoring:Port"] = "0" }).Build());

        Assert.Equal(0, exit);
    }

    [Fact]
    public void GivenTheProbeSwitch_WhenArgumentsAreSplit_ThenTheHostNeverSeesIt()
    {
        string[] args = ["--Monitoring:Port", "1", HealthProbe.Argument];

        Assert.True(HealthProbe.IsRequested(args));
        Assert.Equal(["--Monitoring:Port", "1"], HealthProbe.Without(args));
        Assert.False(HealthProbe.IsRequested(["--health-probe=1"]));
    }

    private IConfiguration Configuration(string bindAddress) => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
        ["Monitoring:BindAddress"] = bindAddress,
    }).Build();

    private static async Task<(int Exit, string Output)> ProbeAsync(IConfiguration configuration)
    {
        using var output = new StringWriter();
        var exit = await HealthProbe.RunAsync(configuration, output);
        return (exit, output.ToString());
    }

    private IHost Build()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddConfiguration(Configuration("127.0.0.1"));
        builder.Services.AddMonitoring();
        return builder.Build();
    }
}
