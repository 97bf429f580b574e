using System.Net;

namespace MedTech.Edge.Hosting;

/// <summary>The metrics and health endpoint (configuration section <c>Monitoring</c>).</summary>
public sealed class MonitoringOptions
{
    public const string SectionName = "Monitoring";

    /// <summary>
    /// The most bytes of a Unix socket path (Linux's <c>sun_path</c> is 108 bytes with its terminating NUL); a longer
    /// path cannot be bound, so it is refused when the options are validated rather than when Kestrel starts.
    /// </summary>
    public const int MaxProbeSocketPathBytes = 107;

    /// <summary>Port of <c>/metrics</c> and <c>/health</c> on the network (9600, where IoT Edge's metrics-collector scrapes); 0 turns that endpoint off.</summary>
    public int Port { get; set; } = 9600;

    /// <summary>
    /// Where the endpoint listens: an IP address (<c>127.0.0.1</c> keeps it on the machine; <c>medtech run</c> uses that),
    /// or <c>+</c> / <c>*</c> for every interface (the modules' default: metrics-collector scrapes over the module network).
    /// </summary>
    public string BindAddress { get; set; } = "+";

    /// <summary>
    /// Connections the network endpoint serves at once; more are closed at once. A stalled client holds one until
    /// <see cref="RequestHeadersTimeout"/>, an idle keep-alive one for 5 seconds. The probe socket has places of its own.
    /// </summary>
    public int MaxConnections { get; set; } = 32;

    /// <summary>Of <see cref="MaxConnections"/>, how many one client address (an IPv6 /64) may hold: one client cannot take every place.</summary>
    public int MaxConnectionsPerAddress { get; set; } = 4;

    /// <summary>
    /// An absolute path for a Unix domain socket that serves the same <c>/health</c> and <c>/metrics</c> to this machine's
    /// own health probe (<c>--health-probe</c>, the images' HEALTHCHECK), created 0600 in a 0700 folder, with places of its
    /// own: any finite cap on the network port can be held by whoever reaches it, the socket only by this user. Null or
    /// empty: none, and the probe asks the network port. The images set <c>/app/run/health.sock</c>; <c>medtech run</c>
    /// puts it in its data folder.
    /// </summary>
    public string? ProbeSocket { get; set; }

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

        // Above MaxConnections it is simply not reached (a lowered MaxConnections alone stays valid).
        if (MaxConnectionsPerAddress is < 1 or > 10_000)
        {
            errors.Add($"{SectionName}:MaxConnectionsPerAddress must be between 1 and 10000.");
        }

        if (!string.IsNullOrEmpty(ProbeSocket)
            && (ProbeSocket.Contains('\0', StringComparison.Ordinal) || !Path.IsPathFullyQualified(ProbeSocket)
                || System.Text.Encoding.UTF8.GetByteCount(ProbeSocket) > MaxProbeSocketPathBytes || Path.EndsInDirectorySeparator(ProbeSocket)))
        {
            errors.Add($"{SectionName}:ProbeSocket must be an absolute file path of at most {MaxProbeSocketPathBytes} bytes, or empty for none.");
        }

        if (RequestHeadersTimeout <= TimeSpan.Zero || RequestHeadersTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SectionName}:RequestHeadersTimeout must be more than 0 and at most 5 minutes.");
        }

        return errors;
    }
}
