using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Gateway;

/// <summary>Wires the edge gateway: MQTT ingest → LiteDB buffer → normalize and group → outbox; then forward to the hub.</summary>
public static class GatewayHostingExtensions
{
    /// <summary>Ingest, buffer, normalization and maintenance; the outbox is drained by <see cref="AddHubForwarding"/> or an in-process writer.</summary>
    public static IHostApplicationBuilder AddEdgeGateway(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddValidatedOptions<GatewayOptions>(GatewayOptions.SectionName, o => o.Validate());
        services.AddValidatedOptions<BufferOptions>(BufferOptions.SectionName, o => o.Validate());
        services.AddValidatedOptions<MqttIngestOptions>(MqttIngestOptions.SectionName, o => o.Validate());

        services.AddSingleton(sp => new GatewayStore(sp.Value<BufferOptions>(), sp.GetService<TimeProvider>()));

        // Each consumer takes the part it needs; all are parts of the one store (one file, one transaction per step).
        services.AddSingleton<IInboxStore>(sp => sp.GetRequiredService<GatewayStore>().Inbox);
        services.AddSingleton<INormalizationInput>(sp => sp.GetRequiredService<GatewayStore>().Inbox);
        services.AddSingleton<IOutbox>(sp => sp.GetRequiredService<GatewayStore>().Outbox);
        services.AddSingleton<IDeadLetters>(sp => sp.GetRequiredService<GatewayStore>().DeadLetters);
        services.AddSingleton<IBufferUpkeep>(sp => sp.GetRequiredService<GatewayStore>().Upkeep);
        services.AddSingleton(sp => new InboxWriter(sp.GetRequiredService<IInboxStore>(), sp.Value<BufferOptions>()));
        services.AddModuleMetrics<IngestMetrics>();
        services.AddModuleMetrics<GatewayMetrics>();
        services.AddSingleton(sp => new DeviceQuota(sp.Value<MqttIngestOptions>().DeviceQuota, sp.GetRequiredService<IInboxStore>(), sp.Value<BufferOptions>(),
            sp.GetRequiredService<ILogger<DeviceQuota>>(), sp.GetService<TimeProvider>()));
        services.AddSingleton<IInbox>(sp => new TracedInbox(sp.GetRequiredService<InboxWriter>()));
        services.AddSingleton<IMqttIngest>(sp => sp.Value<MqttIngestOptions>() is { Mode: IngestMode.External } mqtt
            ? ActivatorUtilities.CreateInstance<ExternalBrokerClient>(sp, mqtt)
            : ActivatorUtilities.CreateInstance<EmbeddedBroker>(sp, sp.Value<MqttIngestOptions>()));

        // The ingest seam: IngestWorker starts every IIngestSource; a second protocol registers its own beside this.
        services.AddSingleton<IIngestSource>(sp => sp.GetRequiredService<IMqttIngest>());
        // An invalid mapping stops the module here, with every error and its line.
        services.AddSingleton(sp => DeviceMappingSource.Load(sp.Value<GatewayOptions>().DeviceMappingPath,
            sp.GetRequiredService<ILogger<DeviceMappingSource>>(), sp.GetRequiredService<GatewayMetrics>(), sp.Value<GatewayOptions>().Normalization));
        services.AddSingleton(sp => new NormalizationStage(sp.GetRequiredService<INormalizationInput>(), sp.GetRequiredService<DeviceMappingSource>(),
            sp.GetRequiredService<ILogger<NormalizationStage>>(), sp.GetRequiredService<GatewayMetrics>(), sp.GetService<TimeProvider>(),
            sp.GetService<TestFaults>() ?? TestFaults.FromEnvironment(), new DeviceIdentityBinding(sp.Value<GatewayOptions>().Identity)));

        services.AddHostedService<IngestWorker>();
        services.AddHostedService<NormalizationWorker>();
        services.AddHostedService<PurgeWorker>();
        services.AddHostedService<MaintenanceWorker>();
        services.AddHostedService<MappingReloadWorker>();
        services.AddHostedService<DeviceActivityWorker>();
        services.AddMonitoring();
        // One instance for every probe (the library calls the factory per run): its one read in flight is shared.
        services.AddSingleton(sp => new BufferHealthCheck(sp.GetRequiredService<IBufferUpkeep>(), sp.Value<BufferOptions>(), sp.GetRequiredService<ModuleHealth>()));
        services.AddComponentHealthCheck(BufferHealthCheck.Name, sp => sp.GetRequiredService<BufferHealthCheck>());
        services.AddComponentHealthCheck(IngestHealthCheck.Name, sp => new IngestHealthCheck(sp.GetServices<IIngestSource>()));
        services.AddComponentHealthCheck(DeviceMappingHealthCheck.Name, sp => new DeviceMappingHealthCheck(sp.GetRequiredService<DeviceMappingSource>()));
        return builder;
    }

    /// <summary>
    /// Forward: the outbox to Event Hubs through its Kafka endpoint or the Event Hubs SDK (<c>Hub:Transport</c>), or to
    /// a Kafka cluster (section <c>Hub</c>). Only the configured transport's client is built.
    /// </summary>
    public static IHostApplicationBuilder AddHubForwarding(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddValidatedOptions<HubOptions>(HubOptions.SectionName, o => o.Validate());
        services.AddSingleton<ProducerFatalError>();
        services.AddSingleton(sp => HubClients.CreateProducer(sp.Value<HubOptions>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("MedTech.Edge.Hub"),
            sp.GetRequiredService<ProducerFatalError>()));
        // The container owns (and at shutdown closes) whichever client is built.
        services.AddSingleton(sp => EventHubsClients.CreateProducer(sp.Value<HubOptions>()));
        services.AddSingleton<IOutboxForwarder>(sp => sp.Value<HubOptions>() is { Transport: HubTransport.EventHubs } hub
            ? ActivatorUtilities.CreateInstance<EventHubsForwarder>(sp, hub)
            : ActivatorUtilities.CreateInstance<OutboxForwarder>(sp, sp.Value<HubOptions>()));
        services.AddHostedService<ForwardingWorker>();
        // The forwarder's last delivery (ForwardingWorker's reports): degraded while the hub is unavailable.
        services.AddComponentHealthCheck("hub");
        return builder;
    }
}
