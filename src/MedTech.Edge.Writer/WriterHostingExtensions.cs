using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Writer.DeviceMessages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Writer;

/// <summary>Wires the FHIR writer: measurement groups → Transform (FHIR mapping, identity) → Persist.</summary>
public static class WriterHostingExtensions
{
    /// <summary>The cloud writer: consumes the hub (section <c>Hub</c>) and persists to the FHIR server (section <c>FhirServer</c>).</summary>
    public static IHostApplicationBuilder AddFhirWriter(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddMeasurementWriter();
        services.AddFhirServerClient();
        // The consumer's last poll (HubWriterWorker's reports): degraded while consuming fails.
        services.AddComponentHealthCheck("hub");
        services.AddValidatedOptions<HubOptions>(HubOptions.SectionName, o => o.Validate());
        services.AddSingleton<RebalanceRelay>();
        services.AddSingleton(sp => HubClients.CreateConsumer(sp.Value<HubOptions>(), sp.Value<WriterOptions>().ConsumerGroup, HubLogger(sp),
            sp.GetRequiredService<RebalanceRelay>().Attach));
        services.AddSingleton<ProducerFatalError>();
        services.AddSingleton(sp => HubClients.CreateProducer(sp.Value<HubOptions>(), HubLogger(sp), sp.GetRequiredService<ProducerFatalError>()));
        services.AddSingleton(sp => new InHandJournal(sp.Value<WriterOptions>().InHandPath));
        if (Enum.TryParse<WriterInput>(builder.Configuration[$"{WriterOptions.SectionName}:{nameof(WriterOptions.Input)}"], ignoreCase: true, out var input)
            && input == WriterInput.DeviceMessages)
        {
            // Cloud normalization: the gateway's normalizer on the device mapping; an invalid mapping stops the module here, with every error and its line.
            services.AddSingleton(sp =>
            {
                var options = sp.Value<WriterOptions>();
                return new Normalizer(DeviceMapping.Load(options.DeviceMappingPath).EnsureValid(options.DeviceMappingPath), options.Normalization);
            });
            services.AddSingleton<DeviceMessageNormalizer>();
        }

        if (bool.TryParse(builder.Configuration[$"{WriterOptions.SectionName}:{nameof(WriterOptions.Shadow)}"], out var shadow) && shadow)
        {
            services.AddSingleton<ShadowRun>();
        }

        services.AddHostedService<HubWriterWorker>();
        return builder;
    }

    /// <summary>
    /// Transform and Persist (<see cref="MeasurementWriter"/>, section <c>Writer</c>) on the <see cref="FhirServerClient"/>
    /// registered beside it; whatever feeds it (the hub here, the gateway's outbox in the one-process run) is the caller's.
    /// </summary>
    public static IServiceCollection AddMeasurementWriter(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddValidatedOptions<WriterOptions>(WriterOptions.SectionName, o => o.Validate());
        services.AddValidatedOptions<PersistenceOptions>(PersistenceOptions.SectionName, o => o.Validate());
        services.AddValidatedOptions<ResourceIdentityOptions>(ResourceIdentityOptions.SectionName, o => o.Validate());
        services.AddSingleton(sp =>
        {
            // An invalid mapping stops the module here, with every error and its line.
            var path = sp.Value<WriterOptions>().FhirMappingPath;
            return FhirMapping.Load(path).EnsureValid(path);
        });
        services.AddSingleton(sp => new IdentityResolver(sp.GetRequiredService<FhirServerClient>(), sp.Value<ResourceIdentityOptions>()));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<ObservationPersister>(sp, sp.Value<PersistenceOptions>()));
        services.AddModuleMetrics<WriterMetrics>();
        services.AddSingleton<MeasurementWriter>();
        services.AddMonitoring();
        // The last batch's outcome (MeasurementWriter's reports): degraded while the server is unavailable, unhealthy
        // while it refuses the writer (401/403) or no Entra ID token can be had, idle too; never a liveness failure (HealthTags).
        services.AddComponentHealthCheck(FhirHealthCheck.Name, sp => new FhirHealthCheck(sp.GetRequiredService<ModuleHealth>(), sp.GetService<FhirTokenProbe>()));
        // Loaded and valid: an invalid FHIR mapping stops the writer at start, so a running writer has one.
        services.AddComponentHealthCheck("mapping", sp => new MappingLoaded(sp.GetRequiredService<FhirMapping>()));
        return services;
    }

    /// <summary>The client of the FHIR server of section <c>FhirServer</c>.</summary>
    public static IServiceCollection AddFhirServerClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddValidatedOptions<FhirServerOptions>(FhirServerOptions.SectionName, o => o.Validate());
        // One credential for the client and the health check's token probe: one token cache, one token request.
        services.AddSingleton(sp => new FhirTokenProbe(sp.Value<FhirServerOptions>(), FhirCredentials.Create(sp.Value<FhirServerOptions>())));
        services.AddSingleton(sp =>
        {
            var options = sp.Value<FhirServerOptions>();
            return new FhirServerClient(FhirServerClient.CreateHttpClient(options, sp.GetRequiredService<FhirTokenProbe>().Credential), options,
                sp.GetRequiredService<ILogger<FhirServerClient>>());
        });
        return services;
    }

    private static ILogger HubLogger(IServiceProvider services) => services.GetRequiredService<ILoggerFactory>().CreateLogger("MedTech.Edge.Hub");

    private sealed class MappingLoaded(FhirMapping mapping) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(mapping.IsValid
                ? HealthCheckResult.Healthy("loaded and valid")
                : HealthCheckResult.Unhealthy("invalid"));
    }
}
