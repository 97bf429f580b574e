namespace MedTech.Edge.Mqtt;

/// <summary>
/// The gateway's MQTT side (configuration section <c>Mqtt</c>). The certificate password is a secret: a secret file at
/// deployment, never a twin property; <see cref="ToString"/> leaves it out. Device passwords are only ever hashed, in
/// <see cref="PasswordFile"/>.
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

    /// <summary>Require a device certificate on the TLS port, checked as <see cref="ClientCertificates"/> says.</summary>
    public bool RequireClientCertificate { get; set; }

    public ClientCertificateOptions ClientCertificates { get; set; } = new();

    /// <summary>
    /// Device passwords in Mosquitto's password-file format (<c>mosquitto_passwd</c>); a device's MQTT client id must
    /// equal its user name. The file is read again when it changes.
    /// </summary>
    public string? PasswordFile { get; set; }

    /// <summary>
    /// No longer accepted: plain-text passwords (user → password). Bound only so that a configuration still holding
    /// them stops the start with the way to a password file, instead of leaving the devices locked out unexplained.
    /// </summary>
    public Dictionary<string, string> Devices { get; set; } = [];

    /// <summary>
    /// Let the plain-text <see cref="Port"/> listen on a non-loopback <see cref="BindAddress"/> while device passwords are
    /// on (they would cross the network readable). Off by default; for a closed device network only.
    /// </summary>
    public bool AllowPlainTextOnNetwork { get; set; }

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

    /// <summary>What one device may take of the embedded broker: publish rate, share of the buffer (<c>Mqtt:DeviceQuota:*</c>).</summary>
    public DeviceQuotaOptions DeviceQuota { get; set; } = new();

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

        errors.AddRange(DeviceQuota.Validate($"{SectionName}:DeviceQuota"));
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

        ValidateDeviceAuthentication(errors);
        return errors;
    }

    private void ValidateDeviceAuthentication(List<string> errors)
    {
        if (Devices.Count > 0)
        {
            errors.Add($"{SectionName}:Devices holds plain-text device passwords, which are no longer accepted. Put them in a Mosquitto password file "
                + "(mosquitto_passwd -c FILE <clientId>, then mosquitto_passwd FILE <clientId> for each further device; or write 'clientId:password' lines "
                + $"and hash them in place with mosquitto_passwd -U FILE), set {SectionName}:PasswordFile to it, and remove the {SectionName}__Devices__* settings.");
        }

        if (PasswordFile is { } file && MosquittoPasswordFile.Problem(file) is { } problem)
        {
            errors.Add($"{SectionName}:PasswordFile: {problem}");
        }

        if (RequireClientCertificate)
        {
            if (TlsPort == 0)
            {
                errors.Add($"{SectionName}:RequireClientCertificate needs {SectionName}:TlsPort.");
            }

            ClientCertificates.Validate(errors, $"{SectionName}:ClientCertificates");
        }

        if (!AllowAnonymous && PasswordFile is null && !RequireClientCertificate)
        {
            errors.Add($"{SectionName}:PasswordFile is not set, {SectionName}:RequireClientCertificate and {SectionName}:AllowAnonymous are false: no device could connect.");
        }

        if (Port != 0 && PasswordFile is not null && !AllowPlainTextOnNetwork && !(System.Net.IPAddress.TryParse(BindAddress, out var address) && System.Net.IPAddress.IsLoopback(address)))
        {
            errors.Add($"{SectionName}:Port would take device passwords in plain text on {SectionName}:BindAddress, which is not loopback: use {SectionName}:TlsPort "
                + $"(and {SectionName}:Port 0), bind to 127.0.0.1, or set {SectionName}:AllowPlainTextOnNetwork to true on a closed device network.");
        }
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
        $"Mode={Mode}, Port={Port}, TlsPort={TlsPort}, BindAddress={BindAddress}, PasswordFile={PasswordFile}, RequireClientCertificate={RequireClientCertificate}, AllowAnonymous={AllowAnonymous}";
}

/// <summary>Where device messages arrive: at the gateway's own broker, or at an external broker it subscribes to.</summary>
public enum IngestMode
{
    Embedded,
    External,
}
