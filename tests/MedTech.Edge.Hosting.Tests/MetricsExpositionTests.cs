using System.Diagnostics.Metrics;
using System.Globalization;
using MedTech.Edge.Hosting;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Hosting.Tests;

/// <summary>What <c>/metrics</c> serves, scraped from a real host and read by a strict exposition-format parser.</summary>
public sealed class MetricsExpositionTests
{
    private readonly int port = Ports.Free();

    // A meter of its own per test: other tests' hosts in this process export their modules' meters too.
    private readonly string meterName = $"MedTech.Edge.Test{Guid.NewGuid():N}";

    [Fact]
    public async Task GivenCountersAndAGauge_WhenScraped_ThenCountersAreCountersNamedTotalAndTheGaugeAGaugeUnderTheMetersName()
    {
        using var module = Build();
        await module.StartAsync();
        using var meter = new Meter(meterName);
        var done = meter.CreateCounter<long>("things.done", description: "Things done, by reason.");
        done.Add(3, new KeyValuePair<string, object?>("reason", "a \"quoted\" reason"));
        done.Add(0, new KeyValuePair<string, object?>("reason", "b"));
        meter.CreateObservableCounter("things.seen", () => 7L);
        meter.CreateObservableGauge("queue.depth", () => 4L);

        using var http = new HttpClient();
        var families = PrometheusText.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics")));

        var prefix = meterName.ToLowerInvariant().Replace('.', '_');
        var counter = families.Values.Single(f => f.Samples.Any(s => s.Name == $"{prefix}_things_done_total"));
        Assert.Equal("counter", counter.Type);
        Assert.Equal("Things done, by reason.", counter.Help);
        Assert.Equal(3, counter.Samples.Single(s => s.Labels["reason"] == "a \"quoted\" reason").Value);
        Assert.Equal(0, counter.Samples.Single(s => s.Labels["reason"] == "b").Value);
        Assert.Equal("counter", families.Values.Single(f => f.Samples.Any(s => s.Name == $"{prefix}_things_seen_total")).Type);
        var gauge = families.Values.Single(f => f.Samples.Any(s => s.Name == $"{prefix}_queue_depth"));
        Assert.Equal("gauge", gauge.Type);
        Assert.Equal(4, gauge.Samples.Single().Value);
        Assert.All(families.Values.Where(f => f.Type == "counter").SelectMany(f => f.Samples), s => Assert.EndsWith("_total", s.Name, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("# TYPE x counter\n# TYPE x counter\n")]
    [InlineData("x 1\n")]
    [InlineData("# TYPE x gauge\nx 1\nx 2\n")]
    [InlineData("# TYPE x gauge\nx{a=\"1\"} one\n")]
    [InlineData("# TYPE x gauge\nx{a=1} 1\n")]
    [InlineData("# TYPE x blob\n")]
    [InlineData("# TYPE x gauge\nx_total 1\n")]
    public void GivenTextTheFormatForbids_WhenParsed_ThenItIsRefused(string text) =>
        Assert.Throws<FormatException>(() => PrometheusText.Parse(text));

    private IHost Build()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
        });
        builder.Services.AddMonitoring();
        return builder.Build();
    }
}
