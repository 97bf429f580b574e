using System.Net;

namespace MedTech.Edge.Hosting;

/// <summary>The metrics and health endpoint (configuration section <c>Monitoring</c>).</summary>
public sealed class MonitoringOptions
{
    public const string SectionName = "Monitoring";

    /// <summary>Port of <c>/metrics</c> and <c>/health</c> (9600, where IoT Edge's metrics-collector scrapes); 0 turns them off.</summary>
    public int Port { get; set; } = 9600;

    /// <summary>
    /// Where the endpoint listens: an IP address (<c>127.0.0.1</c> keeps it on the machine; <c>medtech run</c> uses that),
    /// or <c>+</c> / <c>*</c> for every interface (the modules' default: metrics-collector scrapes over the module network).
    /// </summary>
    public string BindAddress { get; set; } = "+";

    /// <summary>Connections served at once; more wait in the listen queue. A stalled client holds one until <see cref="RequestHeadersTimeout"/>.</summary>
    public int MaxConnections { get; set; } = 32;

    /// <summary>How long a client may take to send its request headers before the connection is closed (slow clients).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The address to listen on; null for every interface.</summary>
    public IPAddress? ListenAddress => BindAddress is "+" or "*" ? null : IPAddress.Parse(BindAddress);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Port is < 0 or > 65535)
        {
            errors.Add($"{SectionName}:Port must be between 0 and 65535.");
        }

        if (BindAddress is not ("+" or "*") && !IPAddress.TryParse(BindAddress, out _))
        {
            errors.Add($"{SectionName}:BindAddress must be an IP address (127.0.0.1 for this machine only) or + for every interface.");
        }

        if (MaxConnections is < 1 or > 10_000)
        {
            errors.Add($"{SectionName}:MaxConnections must be between 1 and 10000.");
        }

        if (RequestHeadersTimeout <= TimeSpan.Zero || RequestHeadersTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SectionName}:RequestHeadersTimeout must be more than 0 and at most 5 minutes.");
        }

        return errors;
    }
}
