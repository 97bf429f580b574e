using MedTech.Edge.Buffer;
using MedTech.Edge.Fhir.Identity;
using MedTech.Edge.Fhir.Persistence;
using MedTech.Edge.Fhir.Server;
using MedTech.Edge.Fhir.Templates;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Writer.LocalStore;
using Microsoft.Extensions.DependencyInjection;
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
        AddWriter(services);
        AddFhirServer(services);
        services.AddValidatedOptions<HubOptions>(HubOptions.SectionName, o => o.Validate());
        services.AddSingleton<RebalanceRelay>();
        services.AddSingleton(sp => HubClients.CreateConsumer(sp.Value<HubOptions>(), sp.Value<WriterOptions>().ConsumerGroup, HubLogger(sp),
            sp.GetRequiredService<RebalanceRelay>().Attach));
        services.AddSingleton<ProducerFatalError>();
        services.AddSingleton(sp => HubClients.CreateProducer(sp.Value<HubOptions>(), HubLogger(sp), sp.GetRequiredService<ProducerFatalError>()));
        services.AddSingleton(sp => new InHandJournal(sp.Value<WriterOptions>().InHandPath));
        services.AddHostedService<HubWriterWorker>();
        return builder;
    }

    /// <summary>
    /// The in-process writer of the one-process run: drains the gateway's outbox (registered by <c>AddEdgeGateway</c>)
    /// into the FHIR server when <c>FhirServer:Url</c> is set, else into a <see cref="LocalFhirStore"/> at <paramref name="localStorePath"/>.
    /// </summary>
    public static IHostApplicationBuilder AddOutboxWriter(this IHostApplicationBuilder builder, string localStorePath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        AddWriter(services);
        if (builder.Configuration[$"{FhirServerOptions.SectionName}:Url"] is { Length: > 0 })
        {
            AddFhirServer(services);
        }
        else
        {
            services.AddSingleton(sp => new LocalFhirStore(localStorePath, sp.Value<WriterOptions>().LocalStoreRetention));
            services.AddSingleton(sp =>
            {
                var options = new FhirServerOptions { Url = LocalFhirStore.BaseAddress };
                var http = new HttpClient(sp.GetRequiredService<LocalFhirStore>(), disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress };
                return new FhirServerClient(http, options, sp.GetRequiredService<ILogger<FhirServerClient>>());
            });
        }

        services.AddHostedService<OutboxWriterWorker>();
        return builder;
    }

    private static void AddWriter(IServiceCollection services)
    {
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
        services.AddSingleton<WriterMetrics>();
        services.AddSingleton<MeasurementWriter>();
        services.AddMonitoring();
    }

    private static void AddFhirServer(IServiceCollection services)
    {
        services.AddValidatedOptions<FhirServerOptions>(FhirServerOptions.SectionName, o => o.Validate());
        services.AddSingleton(sp =>
        {
            var options = sp.Value<FhirServerOptions>();
            return new FhirServerClient(FhirServerClient.CreateHttpClient(options), options, sp.GetRequiredService<ILogger<FhirServerClient>>());
        });
    }

    private static ILogger HubLogger(IServiceProvider services) => services.GetRequiredService<ILoggerFactory>().CreateLogger("MedTech.Edge.Hub");
}
