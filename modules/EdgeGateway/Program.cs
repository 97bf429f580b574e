using MedTech.Edge.Gateway;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Hosting;

// The IoT Edge gateway module: MQTT ingest → LiteDB buffer → normalize and group → Event Hubs (Kafka endpoint).
// Configuration: appsettings.json, then environment variables (Section__Key) from the deployment manifest.
var builder = Host.CreateApplicationBuilder(args);
builder.AddSecretFiles();
builder.AddEdgeGateway().AddHubForwarding();
using var host = builder.Build();
return await host.RunModuleAsync(Console.Error);
