using MedTech.Edge.Gateway;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// The IoT Edge gateway module: MQTT ingest → LiteDB buffer → normalize and group → Event Hubs (Kafka endpoint).
// Configuration: appsettings.json, then environment variables (Section__Key) from the deployment manifest.
var builder = Host.CreateApplicationBuilder(args);
builder.AddEdgeGateway().AddHubForwarding();
using var host = builder.Build();
try
{
    await host.RunAsync();
}
catch (OptionsValidationException ex)
{
    // Invalid configuration stops start-up with every field at fault named.
    await Console.Error.WriteLineAsync($"Invalid configuration: {string.Join(" ", ex.Failures)}");
    return 2;
}
catch (MedTech.Edge.Mapping.Templates.InvalidMappingException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 2;
}

// A worker that died stopped the host; exit non-zero so IoT Edge restarts the module and the logs show it.
return host.Services.GetServices<IHostedService>().OfType<BackgroundService>().Any(s => s.ExecuteTask?.IsFaulted == true) ? 1 : 0;
