using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MedTech.Edge.Writer.DeviceMessages;

/// <summary>
/// Reads a Kafka header value that Event Hubs wrote from an AMQP property. Event Hubs passes an event's AMQP
/// application properties and IoT Hub's annotations (<c>iothub-connection-device-id</c>, <c>iothub-enqueuedtime</c>, …)
/// to Kafka consumers as headers whose values are the property's AMQP 1.0 encoding, type code included (Microsoft
/// Learn, "Exchange events between consumers and producers that use different protocols"; azure-event-hubs-for-kafka
/// issues 56 and 237): a string arrives as <c>0xA1</c>, a length byte and its UTF-8, a timestamp as <c>0x83</c> and
/// eight big-endian bytes of Unix milliseconds. Only a complete primitive value whose encoding uses every byte is
/// decoded; anything else (a header a Kafka producer wrote, compound AMQP values) is read as UTF-8 text, as Kafka
/// headers are. The result is the text MedTech's envelope would show: strings as they are, numbers in invariant form,
/// timestamps in ISO 8601 UTC, binary in base64.
/// </summary>
public static class AmqpHeaderValue
{
    /// <summary>Decodes <paramref name="bytes"/> as one AMQP primitive value, or returns null when they are not exactly one.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return null;
        }

        var code = bytes[0];
        var data = bytes[1..];
        var invariant = CultureInfo.InvariantCulture;
        return code switch
        {
            0x40 when data.IsEmpty => "",
            0x41 when data.IsEmpty => "true",
            0x42 when data.IsEmpty => "false",
            0x56 when data.Length == 1 && data[0] <= 1 => data[0] == 1 ? "true" : "false",
            0x43 or 0x44 when data.IsEmpty => "0",
            0x50 or 0x52 or 0x53 when data.Length == 1 => data[0].ToString(invariant),
            0x51 or 0x54 or 0x55 when data.Length == 1 => ((sbyte)data[0]).ToString(invariant),
            0x60 when data.Length == 2 => BinaryPrimitives.ReadUInt16BigEndian(data).ToString(invariant),
            0x61 when data.Length == 2 => BinaryPrimitives.ReadInt16BigEndian(data).ToString(invariant),
            0x70 when data.Length == 4 => BinaryPrimitives.ReadUInt32BigEndian(data).ToString(invariant),
            0x71 when data.Length == 4 => BinaryPrimitives.ReadInt32BigEndian(data).ToString(invariant),
            0x80 when data.Length == 8 => BinaryPrimitives.ReadUInt64BigEndian(data).ToString(invariant),
            0x81 when data.Length == 8 => BinaryPrimitives.ReadInt64BigEndian(data).ToString(invariant),
            0x72 when data.Length == 4 => BinaryPrimitives.ReadSingleBigEndian(data).ToString("R", invariant),
            0x82 when data.Length == 8 => BinaryPrimitives.ReadDoubleBigEndian(data).ToString("R", invariant),
            0x83 when data.Length == 8 => Timestamp(BinaryPrimitives.ReadInt64BigEndian(data)),
            0x98 when data.Length == 16 => new Guid(data, bigEndian: true).ToString("D", invariant),
            0xA0 when data.Length >= 1 && data[0] == data.Length - 1 => Convert.ToBase64String(data[1..]),
            0xB0 when data.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(data) == data.Length - 4 => Convert.ToBase64String(data[4..]),
            0xA1 or 0xA3 when data.Length >= 1 && data[0] == data.Length - 1 => Utf8(data[1..]),
            0xB1 or 0xB3 when data.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(data) == data.Length - 4 => Utf8(data[4..]),
            _ => null,
        };
    }

    /// <summary>A header's text: its AMQP value when <paramref name="amqp"/> and it is one, else its bytes as UTF-8 (invalid sequences replaced).</summary>
    public static string Read(ReadOnlySpan<byte> bytes, bool amqp) =>
        (amqp ? TryDecode(bytes) : null) ?? Encoding.UTF8.GetString(bytes);

    /// <summary>AMQP timestamps are Unix milliseconds; one outside what DateTime holds is kept as its number rather than thrown on.</summary>
    private static string Timestamp(long milliseconds) =>
        milliseconds is >= -62_135_596_800_000 and <= 253_402_300_799_999
            ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds).UtcDateTime.ToString("o", CultureInfo.InvariantCulture)
            : milliseconds.ToString(CultureInfo.InvariantCulture);

    /// <summary>An AMQP string must be UTF-8; one that is not is not taken for AMQP (the caller reads the bytes as text).</summary>
    private static string? Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
