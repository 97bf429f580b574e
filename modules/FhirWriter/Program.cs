using MedTech.Edge.Writer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Hosting;

// The cloud FHIR writer: Event Hubs (Kafka endpoint) → Transform (FHIR mapping, identity) → Persist to the FHIR service.
// Configuration: appsettings.json, then environment variables (Section__Key); secrets only from the environment.
var builder = Host.CreateApplicationBuilder(HealthProbe.Without(args));
builder.AddSecretFiles();
if (HealthProbe.IsRequested(args))
{
    // The image's HEALTHCHECK: asks the running module's /health (the runtime image has no wget or curl).
    return await HealthProbe.RunAsync(builder.Configuration, Console.Out);
}

builder.AddFhirWriter();
using var host = builder.Build();
return await host.RunModuleAsync(Console.Error);
