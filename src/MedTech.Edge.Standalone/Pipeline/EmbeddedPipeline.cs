using MedTech.Edge.Gateway;
using MedTech.Edge.Standalone;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Standalone.Pipeline;

/// <summary>What <c>medtech run</c> and <c>medtech demo</c> were asked for.</summary>
public sealed record RunSettings(string Data, int MqttPort, string DeviceMapping, string FhirMapping, Uri? FhirUrl, int MetricsPort)
{
    public string FhirStorePath => Path.Combine(Data, "fhir.db");

    /// <summary>
    /// The health probe's Unix socket, in the data folder (0700, this user's): a local watchdog asks there
    /// (<c>curl --unix-socket</c>) without sharing the metrics port's places. None with the metrics port off, or when
    /// the folder's path is too long for a socket (the kernel's limit), rather than refusing to run.
    /// </summary>
    public string? ProbeSocket
    {
        get
        {
            var path = Path.GetFullPath(Path.Combine(Data, "health.sock"));
            return MetricsPort != 0 && System.Text.Encoding.UTF8.GetByteCount(path) <= MedTech.Edge.Hosting.MonitoringOptions.MaxProbeSocketPathBytes ? path : null;
        }
    }
}

/// <summary>
/// The whole pipeline in one process: the edge gateway (embedded MQTT broker, LiteDB buffer, normalization) with the
/// FHIR writer draining its outbox in-process (the outbox is the hub), into the FHIR server given, else a local FHIR
/// store in the data folder. Environment variables (<c>Section__Key</c>) configure everything else, as for the modules.
/// </summary>
public static class EmbeddedPipeline
{
    public static IHost Build(RunSettings settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        var mqtt = builder.Configuration.GetSection("Mqtt");
        var secured = mqtt["PasswordFile"] is not null || IsTrue(mqtt["RequireClientCertificate"]) || mqtt.GetSection("Devices").GetChildren().Any();
        // Devices on the network only over TLS, or when told so: device passwords on the plain port would cross it readable.
        // (Unparsable values are left to the options' validation, which names them.)
        var network = (int.TryParse(mqtt["TlsPort"], out var tlsPort) && tlsPort != 0) || IsTrue(mqtt["AllowPlainTextOnNetwork"]);
        var defaults = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Buffer:Path"] = Path.Combine(settings.Data, "gateway.db"),
            ["Mqtt:Port"] = settings.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // With no device passwords or certificates, as Mosquitto 2: anonymous clients, on this machine only.
            ["Mqtt:AllowAnonymous"] = secured ? "false" : "true",
            ["Mqtt:BindAddress"] = secured && network ? "0.0.0.0" : "127.0.0.1",
            ["Gateway:DeviceMappingPath"] = settings.DeviceMapping,
            ["Writer:FhirMappingPath"] = settings.FhirMapping,
            ["ResourceIdentity:ResourceIdentityServiceType"] = "Create",
            ["Monitoring:Port"] = settings.MetricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
            ["Monitoring:ProbeSocket"] = settings.ProbeSocket,
            ["FhirServer:Url"] = settings.FhirUrl?.AbsoluteUri,
        };

        // Below the environment, so Section__Key variables still win.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = defaults });
        builder.AddEdgeGateway().AddOutboxWriter(settings.FhirStorePath);
        return builder.Build();
    }

    private static bool IsTrue(string? value) => bool.TryParse(value, out var flag) && flag;

    /// <summary>Where the bundled vital-signs mappings are (next to the tool).</summary>
    public static string BundledMapping(string name) => Path.Combine(AppContext.BaseDirectory, "Mappings", $"vital-signs.{name}.json");
}
