using System.Globalization;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer.DeviceMessages;

/// <summary>
/// MedTech's envelope for an event read from an Event Hub over Kafka, built as MedTech built it from an
/// <c>EventData</c>: <c>Body</c> from the event body, <c>Properties</c> from its application properties,
/// <c>SystemProperties</c> from the service's (IoT Hub's annotations, the AMQP message properties, Event Hubs'
/// <c>x-opt-*</c>). A Kafka consumer sees all of them as headers, in one flat list: which are system properties is
/// decided by name, the names the Event Hubs SDK puts into <c>SystemProperties</c>. Header values are decoded per
/// <see cref="WriterOptions.HeaderEncoding"/>: AMQP values (<see cref="AmqpHeaderValue"/>) keep their type, as MedTech's
/// envelope has them (a number is a JSON number, <c>iothub-enqueuedtime</c> a time, as ISO 8601 UTC text like every
/// time we read); anything else is UTF-8 text. Where the hub gives no
/// <c>x-opt-enqueued-time</c> or <c>x-opt-sequence-number</c>, the Kafka timestamp and offset stand in (on Event Hubs
/// they are the event's enqueued time and sequence number).
/// </summary>
public static class EventHubEnvelope
{
    /// <summary>IoT Hub's system properties (message annotations) and AMQP message properties, as the Event Hubs SDK files them.</summary>
    private static readonly HashSet<string> SystemNames = new(StringComparer.Ordinal)
    {
        "iothub-connection-device-id", "iothub-connection-module-id", "iothub-connection-auth-method", "iothub-connection-auth-generation-id",
        "iothub-enqueuedtime", "iothub-message-source", "iothub-interface-name", "iothub-component-name", "dt-dataschema", "dt-subject",
        "message-id", "user-id", "to", "subject", "reply-to", "correlation-id", "content-type", "content-encoding",
        "absolute-expiry-time", "creation-time", "group-id", "group-sequence", "reply-to-group-id",
    };

    /// <summary>Headers this many or more are not read: no real event has them, and each costs time and memory.</summary>
    public const int MaxHeaders = 256;

    /// <summary>A header value longer than this is left out of the envelope (IoT Hub caps all of a message's properties at 81,920 bytes together).</summary>
    public const int MaxHeaderValueBytes = 64 * 1024;

    /// <summary>
    /// The device message of <paramref name="result"/>. The ingestion time (what a measurement's plausible time is
    /// checked against, and the later of two readings of one time wins by) is the event's enqueued time, so a
    /// replay of the same event normalizes the same.
    /// </summary>
    public static DeviceMessage Create(ConsumeResult<string, byte[]> result, bool amqpHeaders)
    {
        ArgumentNullException.ThrowIfNull(result);
        var properties = new Dictionary<string, object?>(StringComparer.Ordinal);
        var system = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var header in (IEnumerable<IHeader>?)result.Message.Headers ?? [])
        {
            if (properties.Count + system.Count >= MaxHeaders)
            {
                break;
            }

            var bytes = header.GetValueBytes() ?? [];
            if (header.Key is null || bytes.Length > MaxHeaderValueBytes)
            {
                continue;
            }

            // A later header of the same name wins, as a later Add does in Kafka's lastHeader.
            var target = IsSystem(header.Key) ? system : properties;
            target[header.Key] = amqpHeaders && AmqpHeaderValue.TryDecode(bytes, out var value) ? value : Encoding.UTF8.GetString(bytes);
        }

        var enqueued = EnqueuedTime(result, system);
        system.TryAdd("x-opt-enqueued-time", new DateTimeOffset(enqueued));
        system.TryAdd("x-opt-sequence-number", result.Offset.Value);
        return new DeviceMessage(result.Message.Value ?? [], enqueued) { PropertyValues = properties, SystemPropertyValues = system };
    }

    private static bool IsSystem(string name) => SystemNames.Contains(name) || name.StartsWith("x-opt-", StringComparison.Ordinal);

    /// <summary>The Kafka timestamp (on Event Hubs, the enqueued time); IoT Hub's enqueued time when the record has none.</summary>
    private static DateTime EnqueuedTime(ConsumeResult<string, byte[]> result, Dictionary<string, object?> system)
    {
        if (result.Message.Timestamp.Type != TimestampType.NotAvailable && result.Message.Timestamp.UnixTimestampMs is > 0 and < 253_402_300_799_999)
        {
            return result.Message.Timestamp.UtcDateTime;
        }

        return system.GetValueOrDefault("iothub-enqueuedtime") switch
        {
            DateTimeOffset time => time.UtcDateTime,
            string text when DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time) => time,
            _ => DateTime.UtcNow,
        };
    }
}
