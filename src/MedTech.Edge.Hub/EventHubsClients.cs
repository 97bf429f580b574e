using System.Net;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Producer;

namespace MedTech.Edge.Hub;

/// <summary>Builds the Event Hubs SDK producer the options describe (<see cref="HubTransport.EventHubs"/>).</summary>
public static class EventHubsClients
{
    /// <summary>
    /// A producer for the configured event hub, by SAS connection string or Entra ID credential. The SDK retries a
    /// failed send a few times within <see cref="HubOptions.DeliveryTimeout"/>; past that the forwarding worker backs
    /// off (up to <see cref="HubOptions.MaxBackoff"/>) with the entries still in the outbox.
    /// </summary>
    public static EventHubProducerClient CreateProducer(HubOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var client = ClientOptions(options);
        if (options.EntraId.Create(options.Authentication) is { } credential)
        {
            return new EventHubProducerClient(options.FullyQualifiedNamespace, options.Topic, credential, client);
        }

        // The SDK refuses an event hub name given both in the connection string and beside it.
        var connection = EventHubsConnectionString.Parse(options.ConnectionString!);
        return connection.EntityPath is null || options.Topic is not { Length: > 0 } topic || topic == connection.EntityPath
            ? new EventHubProducerClient(options.ConnectionString, connection.EntityPath is null ? options.Topic : null, client)
            : throw new InvalidOperationException($"{HubOptions.SectionName}:Topic differs from the connection string's EntityPath; the Event Hubs SDK takes one event hub.");
    }

    /// <summary>The transport, proxy and retry settings.</summary>
    public static EventHubProducerClientOptions ClientOptions(HubOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new EventHubProducerClientOptions
        {
            ConnectionOptions = new EventHubConnectionOptions
            {
                TransportType = options.EventHubs.TransportType,
                Proxy = options.EventHubs.Proxy is { } proxy ? new WebProxy(proxy) : null,
            },
            RetryOptions = new EventHubsRetryOptions
            {
                Mode = EventHubsRetryMode.Exponential,
                MaximumRetries = 3,
                TryTimeout = options.DeliveryTimeout,
                MaximumDelay = options.MaxBackoff,
            },
        };
    }
}
