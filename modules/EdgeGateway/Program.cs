using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Hosting;

// The IoT Edge gateway module: MQTT ingest → LiteDB buffer → normalize and group → Event Hubs (Kafka endpoint).
// Configuration: appsettings.json, then environment variables (Section__Key) from the deployment manifest.
var builder = Host.CreateApplicationBuilder(HealthProbe.Without(args));
builder.AddSecretFiles();
if (HealthProbe.IsRequested(args))
{
    // The image's HEALTHCHECK: asks the running module's /health (the runtime image has no wget or curl).
    return await HealthProbe.RunAsync(builder.Configuration, Console.Out);
}

builder.AddEdgeGateway().AddHubForwarding();
using var host = builder.Build();
return await host.RunModuleAsync(Console.Error);
