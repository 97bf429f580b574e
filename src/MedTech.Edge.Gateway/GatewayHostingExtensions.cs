using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Gateway;

/// <summary>Wires the edge gateway: MQTT ingest → LiteDB buffer → normalize and group → forward to the hub.</summary>
public static class GatewayHostingExtensions
{
    public static IHostApplicationBuilder AddEdgeGateway(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        AddValidatedOptions<GatewayOptions>(services, GatewayOptions.SectionName, o => o.Validate());
        AddValidatedOptions<BufferOptions>(services, BufferOptions.SectionName, o => o.Validate());
        AddValidatedOptions<MqttIngestOptions>(services, MqttIngestOptions.SectionName, o => o.Validate());
        AddValidatedOptions<HubOptions>(services, HubOptions.SectionName, o => o.Validate());

        services.AddSingleton(sp => new GatewayStore(Value<BufferOptions>(sp), sp.GetService<TimeProvider>()));
        services.AddSingleton(sp => new InboxWriter(sp.GetRequiredService<GatewayStore>(), Value<BufferOptions>(sp)));
        services.AddSingleton<IngestMetrics>();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<EmbeddedBroker>(sp, Value<MqttIngestOptions>(sp)));
        services.AddSingleton(sp =>
        {
            // An invalid mapping stops the module here, with every error and its line.
            var path = Value<GatewayOptions>(sp).DeviceMappingPath;
            return new Normalizer(DeviceMapping.Load(path).EnsureValid(path));
        });
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<NormalizationStage>(sp));
        services.AddSingleton(sp => HubClients.CreateProducer(Value<HubOptions>(sp), sp.GetRequiredService<ILoggerFactory>().CreateLogger("MedTech.Edge.Hub")));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<OutboxForwarder>(sp, Value<HubOptions>(sp)));

        services.AddHostedService<IngestWorker>();
        services.AddHostedService<NormalizationWorker>();
        services.AddHostedService<ForwardingWorker>();
        services.AddHostedService<MaintenanceWorker>();
        services.AddHostedService<MetricsWorker>();
        return builder;
    }

    /// <summary>Binds a section and validates it when the host starts; a failure names every field at fault.</summary>
    private static void AddValidatedOptions<T>(IServiceCollection services, string section, Func<T, IReadOnlyList<string>> validate)
        where T : class
    {
        services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new Validator<T>(validate));
    }

    private static T Value<T>(IServiceProvider services)
        where T : class => services.GetRequiredService<IOptions<T>>().Value;

    private sealed class Validator<T>(Func<T, IReadOnlyList<string>> validate) : IValidateOptions<T>
        where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            validate(options) is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
