using MedTech.Edge.Gateway;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests;

/// <summary>The gateway and the writer as in-process hosts on the bundled vital-signs mappings and the mock cluster's "measurements" topic.</summary>
internal static class TestHosts
{
    public static IHost Gateway(string folder, int mqttPort, string bootstrapServers, Dictionary<string, string?>? extra = null)
    {
        var config = new Dictionary<string, string?>
        {
            ["Gateway:DeviceMappingPath"] = VitalSigns.DeviceMapping,
            ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt:Port"] = mqttPort.ToString(),
            ["Mqtt:AllowAnonymous"] = "true",
        };
        foreach (var (key, value) in extra ?? [])
        {
            config[key] = value;
        }

        return Build(config, bootstrapServers, b => b.AddEdgeGateway().AddHubForwarding());
    }

    public static IHost Writer(Uri fhirUrl, string bootstrapServers, int monitoringPort = 0, Dictionary<string, string?>? extra = null)
    {
        var config = WriterSettings(fhirUrl).ToDictionary(s => s.Key.Replace("__", ":", StringComparison.Ordinal), s => (string?)s.Value);
        config["Monitoring:Port"] = monitoringPort.ToString();
        foreach (var (key, value) in extra ?? [])
        {
            config[key] = value;
        }

        return Build(config, bootstrapServers, b => b.AddFhirWriter());
    }

    /// <summary>The writer's settings, as environment variables (the module's form).</summary>
    public static Dictionary<string, string> WriterSettings(Uri fhirUrl) => new()
    {
        ["Writer__FhirMappingPath"] = VitalSigns.FhirMapping,
        ["ResourceIdentity__ResourceIdentityServiceType"] = "Create",
        ["FhirServer__Url"] = fhirUrl.AbsoluteUri,
        ["Persistence__MaxBatchWait"] = "00:00:00.200",
    };

    private static IHost Build(Dictionary<string, string?> config, string bootstrapServers, Action<IHostApplicationBuilder> add)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        config["Hub:BootstrapServers"] = bootstrapServers;
        config.TryAdd("Hub:Topic", "measurements");
        config.TryAdd("Monitoring:Port", "0");
        builder.Configuration.AddInMemoryCollection(config);
        add(builder);
        return builder.Build();
    }
}
