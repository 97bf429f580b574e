namespace MedTech.Edge.Hub;

/// <summary>
/// Where measurement groups go (configuration section <c>Hub</c>): an Event Hubs namespace through its Kafka endpoint
/// or, with <see cref="Transport"/> <see cref="HubTransport.EventHubs"/>, through the Event Hubs SDK (AMQP); or a
/// Kafka cluster (<see cref="BootstrapServers"/> and <see cref="Topic"/>; plain text only on loopback, for tests).
/// Event Hubs takes a SAS <see cref="ConnectionString"/> (a secret file) or, with another <see cref="Authentication"/>,
/// an Entra ID credential for <see cref="FullyQualifiedNamespace"/> (<see cref="EntraId"/>).
/// </summary>
public sealed class HubOptions
{
    public const string SectionName = "Hub";

    /// <summary>Which client sends the gateway's groups; the writer always consumes through Kafka.</summary>
    public HubTransport Transport { get; set; } = HubTransport.Kafka;

    /// <summary>The Event Hubs SDK transport's settings (<see cref="Transport"/> <see cref="HubTransport.EventHubs"/>).</summary>
    public EventHubsTransportOptions EventHubs { get; set; } = new();

    /// <summary>How the client proves itself to Event Hubs: the SAS connection string, or an Entra ID credential.</summary>
    public HubAuthentication Authentication { get; set; } = HubAuthentication.ConnectionString;

    /// <summary>The namespace's host name, e.g. <c>ward-hub.servicebus.windows.net</c>: with Entra ID, in place of a connection string.</summary>
    public string? FullyQualifiedNamespace { get; set; }

    /// <summary>The Entra ID credential's settings (every <see cref="Authentication"/> but ConnectionString).</summary>
    public EntraIdOptions EntraId { get; set; } = new();

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

        if (Authentication != HubAuthentication.ConnectionString)
        {
            ValidateEntraId(errors);
        }
        else if (ConnectionString is { Length: > 0 } connection)
        {
            try
            {
                var entityPath = EventHubsConnectionString.Parse(connection).EntityPath;
                if (entityPath is null && string.IsNullOrWhiteSpace(Topic))
                {
                    errors.Add($"{SectionName}:Topic is required when {SectionName}:ConnectionString has no EntityPath.");
                }
                else if (Transport == HubTransport.EventHubs && entityPath is not null && Topic is { Length: > 0 } && Topic != entityPath)
                {
                    errors.Add($"{SectionName}:Topic differs from the connection string's EntityPath; the Event Hubs SDK takes one event hub.");
                }
            }
            catch (FormatException ex)
            {
                errors.Add($"{SectionName}:ConnectionString: {ex.Message}");
            }
        }
        else if (Transport == HubTransport.EventHubs)
        {
            errors.Add($"{SectionName}:Transport EventHubs needs {SectionName}:ConnectionString, or {SectionName}:Authentication with {SectionName}:FullyQualifiedNamespace and {SectionName}:Topic.");
        }
        else if (string.IsNullOrWhiteSpace(BootstrapServers) || string.IsNullOrWhiteSpace(Topic))
        {
            errors.Add($"{SectionName}:ConnectionString, or {SectionName}:BootstrapServers with {SectionName}:Topic, is required.");
        }
        else if (!BootstrapServers.Split(',').All(IsLoopback))
        {
            errors.Add($"{SectionName}:BootstrapServers without a connection string is plain-text Kafka, allowed only on loopback (tests); use an Event Hubs connection string.");
        }

        if (!Enum.IsDefined(Transport))
        {
            errors.Add($"{SectionName}:Transport must be Kafka or EventHubs.");
        }
        else if (Transport == HubTransport.EventHubs)
        {
            errors.AddRange(EventHubs.Validate($"{SectionName}:{nameof(EventHubs)}"));
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
        $"Transport={Transport}, Authentication={Authentication}, FullyQualifiedNamespace={FullyQualifiedNamespace}, " +
        $"ConnectionString={(string.IsNullOrEmpty(ConnectionString) ? "(none)" : "(set)")}, BootstrapServers={BootstrapServers}, Topic={Topic}";

    /// <summary>An Entra ID credential reaches Event Hubs by its namespace and names the event hub; no connection string is used.</summary>
    private void ValidateEntraId(List<string> errors)
    {
        if (!Enum.IsDefined(Authentication))
        {
            errors.Add($"{SectionName}:Authentication must be ConnectionString, ManagedIdentity, WorkloadIdentity, ClientCertificate or ClientSecret.");
            return;
        }

        if (FullyQualifiedNamespace is null || Uri.CheckHostName(FullyQualifiedNamespace) != UriHostNameType.Dns || !FullyQualifiedNamespace.Contains('.', StringComparison.Ordinal))
        {
            errors.Add($"{SectionName}:FullyQualifiedNamespace must be the namespace's host name (e.g. ward-hub.servicebus.windows.net) when {SectionName}:Authentication is {Authentication}.");
        }

        if (string.IsNullOrWhiteSpace(Topic))
        {
            errors.Add($"{SectionName}:Topic (the event hub) is required when {SectionName}:Authentication is {Authentication}.");
        }

        if (!string.IsNullOrEmpty(ConnectionString))
        {
            errors.Add($"{SectionName}:ConnectionString is set although {SectionName}:Authentication is {Authentication}; remove one of them.");
        }

        errors.AddRange(EntraId.Validate($"{SectionName}:{nameof(EntraId)}", Authentication));
    }

    private static bool IsLoopback(string server)
    {
        var host = server.Trim().Split(':')[0];
        return host is "localhost" || (System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address));
    }
}
