namespace MedTech.Edge.Mqtt;

/// <summary>
/// The gateway's MQTT side (configuration section <c>Mqtt</c>). Device credentials and the certificate password are
/// secrets: environment variables at deployment, never twin properties; <see cref="ToString"/> leaves them out.
/// </summary>
public sealed class MqttIngestOptions
{
    public const string SectionName = "Mqtt";

    /// <summary><c>Embedded</c> (default): the gateway is the broker. <c>External</c>: it subscribes to a Mosquitto on the gateway (<see cref="External"/>).</summary>
    public IngestMode Mode { get; set; } = IngestMode.Embedded;

    public ExternalBrokerOptions External { get; set; } = new();

    /// <summary>Plain-text port on the given address; 0 turns it off (TLS only). Default loopback only.</summary>
    public int Port { get; set; } = 1883;

    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>TLS port (needs <see cref="CertificatePath"/>); 0 turns it off.</summary>
    public int TlsPort { get; set; }

    /// <summary>The broker's certificate with its private key (PKCS#12 / .pfx).</summary>
    public string? CertificatePath { get; set; }

    public string? CertificatePassword { get; set; }

    /// <summary>Ask devices for a client certificate (validated against the machine's trust store) on the TLS port.</summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>Username → password of each device; a device's MQTT client id must equal its username.</summary>
    public Dictionary<string, string> Devices { get; set; } = [];

    /// <summary>Accept devices without credentials. Off by default; for a closed test network only.</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>When set, a device may publish only under this prefix with its own client id, e.g. <c>devices/{clientId}/</c>.</summary>
    public string? DeviceTopicPattern { get; set; }

    /// <summary>
    /// The most <see cref="MaxMessageBytes"/> may be: the buffer stores a message (and a dead letter of it) within one
    /// LiteDB document, which LiteDB limits to about 16.6 MB.
    /// </summary>
    public const int MaxMessageBytesLimit = 8 << 20;

    /// <summary>Larger payloads are refused and counted (<c>oversized</c>).</summary>
    public int MaxMessageBytes { get; set; } = 256 * 1024;

    /// <summary>Connection cap, packet-size limit before login, TLS handshake and CONNECT time-outs (section <c>Mqtt:DevicePort</c>).</summary>
    public DevicePortOptions DevicePort { get; set; } = new();

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxMessageBytes is < 1 or > MaxMessageBytesLimit)
        {
            errors.Add($"{SectionName}:MaxMessageBytes must be between 1 and {MaxMessageBytesLimit} (8 MiB).");
        }

        if (DeviceTopicPattern is { } topicPattern && !topicPattern.Contains("{clientId}", StringComparison.Ordinal))
        {
            errors.Add($"{SectionName}:DeviceTopicPattern must contain {{clientId}}.");
        }

        if (Mode == IngestMode.External)
        {
            ValidateExternal(errors);
            return errors;
        }

        errors.AddRange(DevicePort.Validate($"{SectionName}:DevicePort"));
        if (Port == 0 && TlsPort == 0)
        {
            errors.Add($"{SectionName}:Port and {SectionName}:TlsPort are both 0: the broker would accept nothing.");
        }

        if (TlsPort != 0 && string.IsNullOrWhiteSpace(CertificatePath))
        {
            errors.Add($"{SectionName}:CertificatePath is required for {SectionName}:TlsPort.");
        }

        if (!AllowAnonymous && Devices.Count == 0 && !RequireClientCertificate)
        {
            errors.Add($"{SectionName}:Devices is empty and {SectionName}:AllowAnonymous is false: no device could connect.");
        }

        return errors;
    }

    private void ValidateExternal(List<string> errors)
    {
        var external = $"{SectionName}:External";
        if (string.IsNullOrWhiteSpace(External.Host))
        {
            errors.Add($"{external}:Host is required when {SectionName}:Mode is External.");
        }
        else if (!External.UseTls && !External.AllowPlainText && External.Host is not ("localhost" or "127.0.0.1" or "::1"))
        {
            errors.Add($"{external}:UseTls is false for a broker that is not on loopback; use TLS, or set {external}:AllowPlainText on a closed module network.");
        }

        if (External.Port is < 1 or > 65535 || External.TopicFilters.Count == 0 || External.SessionExpiry <= TimeSpan.Zero || string.IsNullOrWhiteSpace(External.ClientId))
        {
            errors.Add($"{external}:Port, TopicFilters, SessionExpiry and ClientId must be set.");
        }

        if (External.CaCertificatePath is { } ca && !File.Exists(ca))
        {
            errors.Add($"{external}:CaCertificatePath '{ca}' does not exist.");
        }
    }

    public override string ToString() =>
        $"Mode={Mode}, Port={Port}, TlsPort={TlsPort}, BindAddress={BindAddress}, Devices={Devices.Count} (passwords not shown), AllowAnonymous={AllowAnonymous}";
}

/// <summary>Where device messages arrive: at the gateway's own broker, or at an external broker it subscribes to.</summary>
public enum IngestMode
{
    Embedded,
    External,
}
