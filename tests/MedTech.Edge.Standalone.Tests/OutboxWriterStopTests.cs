using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Standalone.LocalStore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Standalone.Tests;

/// <summary>
/// The in-process writer once left its in-hand record behind when the host stopped (or was killed) while it
/// only waited out a FHIR server outage, so two restarts during one outage made a good group Poison. No process died on
/// the data; the hub writer already clears its journal while waiting.
/// </summary>
public sealed class OutboxWriterStopTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-outboxstop-").FullName;
    private readonly GatewayStore store;

    public OutboxWriterStopTests() => store = new(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenAFhirOutage_WhenTheHostIsStoppedTwiceWhileTheWriterWaits_ThenNoGoodGroupIsPoisonAndAllAreWrittenWhenTheServerIsBack()
    {
        var entries = NormalizeThreeMonitors();

        // Two stops while the FHIR server cannot be reached: the writer has the batch (then one group alone) in hand.
        await RunWhileServerDownAsync();
        await RunWhileServerDownAsync();

        var observations = await RunWriterUntilDrainedAsync();

        Assert.Empty(store.ListDeadLetters());
        Assert.Empty(store.ListGroupDeadLetters());
        Assert.Equal(entries.Count, observations);
    }

    /// <summary>Starts the writer against a FHIR server that refuses connections, waits until it has a write in hand, stops the host.</summary>
    private async Task RunWhileServerDownAsync()
    {
        var builder = Builder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["FhirServer:Url"] = "http://127.0.0.1:9/",
            ["FhirServer:MaxAttempts"] = "1",
        });
        builder.AddOutboxWriter(Path.Combine(folder, "unused.db"));
        using var host = builder.Build();
        await host.StartAsync();
        // The writer took the batch (or, recovering, one group alone), failed to reach the server and now only waits on it.
        var health = host.Services.GetRequiredService<ModuleHealth>();
        await Eventually.HoldsAsync(() => health.Snapshot().TryGetValue("fhir", out var fhir) && fhir.Status == HealthStatus.Degraded, TimeSpan.FromSeconds(30));
        await host.StopAsync();
    }

    private List<OutboxEntry> NormalizeThreeMonitors()
    {
        store.Append(VitalSigns.Messages(3, 1).Select(m => new InboxMessage(m.DeviceId, $"devices/{m.DeviceId}/vitals", m.Json(), DateTime.UtcNow,
            new Dictionary<string, string>())).ToList());
        var normalizer = new Normalizer(DeviceMapping.Load(VitalSigns.DeviceMapping).EnsureValid("vital signs"));
        new NormalizationStage(store, new DeviceMappingSource(normalizer), NullLogger<NormalizationStage>.Instance).RunOnce(100);
        return store.ReadOutbox(1000).ToList();
    }

    private async Task<int> RunWriterUntilDrainedAsync()
    {
        var builder = Builder();
        builder.AddOutboxWriter(Path.Combine(folder, "fhir.db"));
        using var host = builder.Build();
        await host.StartAsync();
        await Eventually.HoldsAsync(() => store.Stats().Outbox == 0, TimeSpan.FromSeconds(60));
        await host.StopAsync();
        return host.Services.GetRequiredService<LocalFhirStore>().Count("Observation");
    }

    private HostApplicationBuilder Builder()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Writer:FhirMappingPath"] = VitalSigns.FhirMapping,
            ["ResourceIdentity:ResourceIdentityServiceType"] = "Create",
            ["Monitoring:Port"] = "0",
        });
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<IOutbox>(store);
        return builder;
    }
}
