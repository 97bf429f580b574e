using System.Diagnostics.Metrics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Review of issue 23 (health vs. alerts), failing on purpose. The alert MedTechEdgeUnhealthy reads the gauge
/// <c>health.status</c> (ModuleHealth), which holds only what components REPORT to ModuleHealth; what a health check
/// COMPUTES (BufferHealthCheck's full / 90 % full, DeviceMappingHealthCheck's rejected file, IngestHealthCheck, the
/// writer's mapping check, the module check's stopped workers) never reaches it, and no IHealthCheckPublisher copies
/// it. So a full buffer (StopAccepting, the default: every publish refused) is Unhealthy on /health (503, "buffer")
/// while medtech_edge_health_status{component="buffer"} is absent or 0 and the alert is silent. Real LiteDB file.
/// Fixed: HealthGaugePublisher copies each report into the gauge; this runs the checks and the publishers as the
/// library's publisher service does.
/// </summary>
[Collection(nameof(Review23HealthGaugeTests))]
public sealed class Review23HealthGaugeTests
{
    [Fact]
    public async Task Review23_FullBuffer_IsUnhealthyOnTheHealthStatusGaugeToo()
    {
        var folder = Directory.CreateTempSubdirectory("medtech-review23-gauge-").FullName;
        try
        {
            var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 1, ForceToDisk = false };
            using var store = new GatewayStore(options);
            store.Append([new InboxMessage("monitor-1", "devices/monitor-1/vitals", new byte[100], DateTime.UtcNow, new Dictionary<string, string>())]);
            Assert.Throws<BufferFullException>(() => store.Append([new InboxMessage("monitor-1", "devices/monitor-1/vitals", new byte[100], DateTime.UtcNow, new Dictionary<string, string>())]));
            var services = new ServiceCollection();
            services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
            services.AddLogging();
            services.AddComponentHealthCheck(BufferHealthCheck.Name, sp => new BufferHealthCheck(store, options, sp.GetRequiredService<ModuleHealth>()));
            await using var provider = services.BuildServiceProvider();
            var health = provider.GetRequiredService<ModuleHealth>();

            // What the library's publisher service does every period: run the checks, hand the report to each publisher.
            var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();
            Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, report.Entries[BufferHealthCheck.Name].Status);
            foreach (var publisher in provider.GetServices<IHealthCheckPublisher>())
            {
                await publisher.PublishAsync(report, default);
            }

            // A component's own report shows on the gauge until its check has run; the computed check's result after.
            health.Degraded("hub", "unavailable");
            Assert.Equal([(int)MedTech.Edge.Hosting.HealthStatus.Degraded], GaugeOf(health, "hub"));
            Assert.Equal([(int)MedTech.Edge.Hosting.HealthStatus.Unhealthy], GaugeOf(health, "buffer"));
            Assert.Equal([(int)MedTech.Edge.Hosting.HealthStatus.Healthy], GaugeOf(health, "module"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The values this module's health.status publishes for the component (its meter's scope is the module's health).</summary>
    private static List<int> GaugeOf(ModuleHealth health, string component)
    {
        var values = new List<int>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == ModuleHealth.MeterName && instrument.Meter.Scope == health && instrument.Name == "status")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "component" && Equals(tag.Value, component))
                {
                    values.Add(value);
                }
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }
}

/// <summary>Runs <see cref="Review23HealthGaugeTests"/> after the parallel tests, on their own.</summary>
[CollectionDefinition(nameof(Review23HealthGaugeTests), DisableParallelization = true)]
public sealed class Review23HealthGaugeTestsRunAlone;
