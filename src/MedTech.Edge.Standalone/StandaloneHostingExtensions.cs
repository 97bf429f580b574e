using MedTech.Edge.Persist.Server;
using MedTech.Edge.Hosting;
using MedTech.Edge.Standalone.LocalStore;
using MedTech.Edge.Writer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Standalone;

/// <summary>Wires the one-process run's writer: the gateway's outbox (the hub of this run) → Transform → Persist.</summary>
public static class StandaloneHostingExtensions
{
    /// <summary>
    /// The in-process writer of the one-process run: drains the gateway's outbox (registered by <c>AddEdgeGateway</c>)
    /// into the FHIR server when <c>FhirServer:Url</c> is set, else into a <see cref="LocalFhirStore"/> at <paramref name="localStorePath"/>.
    /// </summary>
    public static IHostApplicationBuilder AddOutboxWriter(this IHostApplicationBuilder builder, string localStorePath)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddMeasurementWriter();
        if (builder.Configuration[$"{FhirServerOptions.SectionName}:Url"] is { Length: > 0 })
        {
            services.AddFhirServerClient();
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
}
