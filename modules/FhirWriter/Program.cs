using MedTech.Edge.Writer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Hosting;

// The cloud FHIR writer: Event Hubs (Kafka endpoint) → Transform (FHIR mapping, identity) → Persist to the FHIR service.
// Configuration: appsettings.json, then environment variables (Section__Key); secrets only from the environment.
var builder = Host.CreateApplicationBuilder(args);
builder.AddSecretFiles();
builder.AddFhirWriter();
using var host = builder.Build();
return await host.RunModuleAsync(Console.Error);
