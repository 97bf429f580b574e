using Azure.Messaging.EventHubs;

namespace MedTech.Edge.Hub;

/// <summary>
/// The Event Hubs SDK transport (section <c>Hub:EventHubs</c>). Many hospitals let only 443 out, through an HTTP proxy
/// that librdkafka cannot use: <see cref="EventHubsTransportType.AmqpWebSockets"/> with <see cref="Proxy"/> goes that way.
/// </summary>
public sealed class EventHubsTransportOptions
{
    /// <summary><c>AmqpTcp</c> (port 5671) or <c>AmqpWebSockets</c> (port 443).</summary>
    public EventHubsTransportType TransportType { get; set; } = EventHubsTransportType.AmqpTcp;

    /// <summary>An HTTP proxy, e.g. <c>http://proxy.hospital.local:3128</c>; only with <c>AmqpWebSockets</c> (the SDK's rule).</summary>
    public Uri? Proxy { get; set; }

    /// <summary>Devices whose batches are sent at the same time; each device's batches go one after another, in order.</summary>
    public int MaxConcurrentSends { get; set; } = 8;

    /// <summary>Every problem, each naming its configuration key under <paramref name="section"/>.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(TransportType))
        {
            errors.Add($"{section}:TransportType must be AmqpTcp or AmqpWebSockets.");
        }

        if (Proxy is not null)
        {
            if (!Proxy.IsAbsoluteUri || Proxy.Scheme is not ("http" or "https") || Proxy.AbsolutePath != "/" || !string.IsNullOrEmpty(Proxy.UserInfo))
            {
                errors.Add($"{section}:Proxy must be an http(s) URL of the proxy without a path or credentials, e.g. http://proxy.hospital.local:3128.");
            }

            if (TransportType != EventHubsTransportType.AmqpWebSockets)
            {
                errors.Add($"{section}:Proxy works only with {section}:TransportType AmqpWebSockets (AMQP on 5671 cannot go through an HTTP proxy).");
            }
        }

        if (MaxConcurrentSends is < 1 or > 64)
        {
            errors.Add($"{section}:MaxConcurrentSends must be between 1 and 64.");
        }

        return errors;
    }
}
