namespace MedTech.Edge.Hub;

/// <summary>
/// An Event Hubs connection string (<c>Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=HUB</c>)
/// and what the Kafka endpoint needs from it: bootstrap <c>NS.servicebus.windows.net:9093</c> and the event hub as topic.
/// The whole string is the SASL PLAIN password (user <c>$ConnectionString</c>): it is a secret, never printed.
/// </summary>
public sealed record EventHubsConnectionString(string Namespace, string? EntityPath, string Raw)
{
    public string BootstrapServers => $"{Namespace}:9093";

    /// <exception cref="FormatException">Not an Event Hubs connection string; the message never contains the key.</exception>
    public static EventHubsConnectionString Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .GroupBy(p => p[0], StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Last()[1], StringComparer.OrdinalIgnoreCase);
        if (!parts.TryGetValue("Endpoint", out var endpoint) || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme != "sb")
        {
            throw new FormatException("The Event Hubs connection string needs Endpoint=sb://<namespace>.servicebus.windows.net/.");
        }

        if (!parts.ContainsKey("SharedAccessKeyName") || !parts.ContainsKey("SharedAccessKey"))
        {
            throw new FormatException("The Event Hubs connection string needs SharedAccessKeyName and SharedAccessKey.");
        }

        return new EventHubsConnectionString(uri.Host, parts.GetValueOrDefault("EntityPath"), text);
    }

    public override string ToString() => $"Endpoint=sb://{Namespace}/;EntityPath={EntityPath};SharedAccessKey=(redacted)";
}
