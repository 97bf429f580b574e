using System.Globalization;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer.DeviceMessages;

/// <summary>
/// MedTech's envelope for an event read from an Event Hub over Kafka, built as MedTech built it from an
/// <c>EventData</c>: <c>Body</c> from the event body, <c>Properties</c> from its application properties,
/// <c>SystemProperties</c> from the service's (IoT Hub's annotations, the AMQP message properties). A Kafka consumer
/// sees all of them as headers, in one flat list: which are system properties is decided by name, the names the Event
/// Hubs SDK puts into <c>SystemProperties</c>; a name seen twice refuses the message. Header values are decoded per
/// <see cref="WriterOptions.HeaderEncoding"/>: AMQP values (<see cref="AmqpHeaderValue"/>) keep their type, as MedTech's
/// envelope has them (a number is a JSON number, <c>iothub-enqueuedtime</c> a time, as ISO 8601 UTC text like every
/// time we read); anything else is UTF-8 text. <c>x-opt-enqueued-time</c> and <c>x-opt-sequence-number</c> are always
/// the Kafka timestamp and offset (on Event Hubs, the event's enqueued time and sequence number), and
/// <c>x-opt-partition-key</c> the record key: never a header.
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

    /// <summary>
    /// The device's own (application) properties past this many are not read: no real event has them, and each costs
    /// time and memory. System-property names are always read, so padding cannot push IoT Hub's own ones out of reach.
    /// </summary>
    public const int MaxHeaders = 256;

    /// <summary>A header value longer than this is left out of the envelope (IoT Hub caps all of a message's properties at 81,920 bytes together).</summary>
    public const int MaxHeaderValueBytes = 64 * 1024;

    /// <summary>
    /// The device message of <paramref name="result"/>. The ingestion time (what a measurement's plausible time is
    /// checked against, and the later of two readings of one time wins by) is the event's enqueued time, so a
    /// replay of the same event normalizes the same.
    /// </summary>
    /// <exception cref="DuplicateSystemPropertyException">A system-property name appears twice among the headers.</exception>
    public static DeviceMessage Create(ConsumeResult<string, byte[]> result, bool amqpHeaders)
    {
        ArgumentNullException.ThrowIfNull(result);
        var properties = new Dictionary<string, object?>(StringComparer.Ordinal);
        var system = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var header in (IEnumerable<IHeader>?)result.Message.Headers ?? [])
        {
            if (header.Key is null)
            {
                continue;
            }

            var isSystem = SystemNames.Contains(header.Key);

            // Over Kafka, IoT Hub's annotations and a device's application property of the same name are headers of one
            // flat list, in an order we cannot trust; two of one system name means a device is trying to speak for
            // another (or for IoT Hub), so the whole message is refused rather than either value believed.
            if (isSystem && system.ContainsKey(header.Key))
            {
                throw new DuplicateSystemPropertyException(header.Key);
            }

            if (!isSystem && properties.Count >= MaxHeaders)
            {
                continue;
            }

            var bytes = header.GetValueBytes() ?? [];
            if (bytes.Length > MaxHeaderValueBytes)
            {
                if (isSystem)
                {
                    // An over-long system value still marks the name as taken: a second one must not slip in after it.
                    throw new DuplicateSystemPropertyException(header.Key);
                }

                continue;
            }

            // A later application property of the same name wins, as a later Add does in Kafka's lastHeader.
            (isSystem ? system : properties)[header.Key] = amqpHeaders && AmqpHeaderValue.TryDecode(bytes, out var value) ? value : Encoding.UTF8.GetString(bytes);
        }

        // x-opt-* headers stay application properties: a device can send an application property of any such name, and
        // a header does not say whether it came from the event's application properties or Event Hubs' annotations, so
        // none is believed as a system property. Enqueued time and sequence number come from the record the broker stamps.
        var enqueued = EnqueuedTime(result, system);
        system["x-opt-enqueued-time"] = new DateTimeOffset(enqueued);
        system["x-opt-sequence-number"] = result.Offset.Value;
        if (!string.IsNullOrEmpty(result.Message.Key))
        {
            // Over Kafka the record key is the event's partition key.
            system["x-opt-partition-key"] = result.Message.Key;
        }

        return new DeviceMessage(result.Message.Value ?? [], enqueued) { PropertyValues = properties, SystemPropertyValues = system };
    }

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
