namespace MedTech.Edge.Hub;

/// <summary>
/// Where measurement groups go (configuration section <c>Hub</c>): an Event Hubs namespace through its Kafka endpoint
/// (<see cref="ConnectionString"/>, a secret from an environment variable), or a Kafka cluster
/// (<see cref="BootstrapServers"/> and <see cref="Topic"/>; plain text only on loopback, for tests).
/// </summary>
public sealed class HubOptions
{
    public const string SectionName = "Hub";

    public string? ConnectionString { get; set; }

    public string? BootstrapServers { get; set; }

    /// <summary>The topic (event hub); with a connection string, its EntityPath is the default.</summary>
    public string? Topic { get; set; }

    /// <summary>Entries read from the outbox and sent per round.</summary>
    public int ForwardBatchSize { get; set; } = 5000;

    /// <summary>
    /// A device's measurement groups forwarded in the same round share one hub message (a JSON array) up to this many
    /// bytes, so that Event Hubs counts one event rather than one per group; 0 sends each group as a message of its own.
    /// The default is Event Hubs' 64 KB billing unit; at most <see cref="MaxPackUpToBytes"/>, so a pack fits every tier.
    /// </summary>
    public int PackUpToBytes { get; set; } = 64 * 1024;

    /// <summary>Event Hubs Basic's message limit (Standard's is 1 MB).</summary>
    public const int MaxPackUpToBytes = 256 * 1024;

    /// <summary>How long one round waits for the hub's acknowledgements before it counts as failed.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a consumer (the FHIR writer) may be silent before its partitions go to another instance (Event Hubs: 30 s).</summary>
    public TimeSpan ConsumerSessionTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The gateway's name, sent with every hub message in the <see cref="GatewayHeader"/> header, so that the writer's
    /// Provenance names the gateway the data came through. Defaults to the IoT Edge device id (<c>IOTEDGE_DEVICEID</c>,
    /// which IoT Edge gives every module); empty sends no header. Not patient data: it names the ward's gateway.
    /// </summary>
    public string? GatewayName { get; set; } = Environment.GetEnvironmentVariable("IOTEDGE_DEVICEID");

    /// <summary>The hub message header that carries <see cref="GatewayName"/>.</summary>
    public const string GatewayHeader = "gateway";

    /// <summary>The longest <see cref="GatewayName"/> (IoT Hub device ids have at most 128 characters).</summary>
    public const int MaxGatewayNameLength = 128;

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (GatewayName is { } gateway && (gateway.Length > MaxGatewayNameLength || gateway.Any(char.IsControl)))
        {
            errors.Add($"{SectionName}:GatewayName must have at most {MaxGatewayNameLength} characters and no control characters.");
        }

        if (ConnectionString is { Length: > 0 } connection)
        {
            try
            {
                if (EventHubsConnectionString.Parse(connection).EntityPath is null && string.IsNullOrWhiteSpace(Topic))
                {
                    errors.Add($"{SectionName}:Topic is required when {SectionName}:ConnectionString has no EntityPath.");
                }
            }
            catch (FormatException ex)
            {
                errors.Add($"{SectionName}:ConnectionString: {ex.Message}");
            }
        }
        else if (string.IsNullOrWhiteSpace(BootstrapServers) || string.IsNullOrWhiteSpace(Topic))
        {
            errors.Add($"{SectionName}:ConnectionString, or {SectionName}:BootstrapServers with {SectionName}:Topic, is required.");
        }
        else if (!BootstrapServers.Split(',').All(IsLoopback))
        {
            errors.Add($"{SectionName}:BootstrapServers without a connection string is plain-text Kafka, allowed only on loopback (tests); use an Event Hubs connection string.");
        }

        if (ForwardBatchSize < 1 || DeliveryTimeout <= TimeSpan.Zero || MaxBackoff <= TimeSpan.Zero || ConsumerSessionTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:ForwardBatchSize, DeliveryTimeout, MaxBackoff and ConsumerSessionTimeout must be positive.");
        }

        if (PackUpToBytes is < 0 or > MaxPackUpToBytes)
        {
            errors.Add($"{SectionName}:PackUpToBytes must be between 0 (no packing) and {MaxPackUpToBytes} (Event Hubs Basic's message limit).");
        }

        return errors;
    }

    public override string ToString() =>
        $"ConnectionString={(string.IsNullOrEmpty(ConnectionString) ? "(none)" : "(set)")}, BootstrapServers={BootstrapServers}, Topic={Topic}";

    private static bool IsLoopback(string server)
    {
        var host = server.Trim().Split(':')[0];
        return host is "localhost" || (System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address));
    }
}
