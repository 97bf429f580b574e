using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MedTech.Edge.Hub;

/// <summary>
/// A Kafka header that began as an AMQP property. Event Hubs passes AMQP application properties (the Event Hubs SDK
/// transport's <see cref="HubOptions.GatewayHeader"/>) and IoT Hub's system properties (<c>iothub-connection-device-id</c>,
/// <c>iothub-enqueuedtime</c>, ...) to a Kafka consumer as headers holding the value's AMQP 1.0 encoding, type
/// constructor included (Event Hubs' cross-protocol guidance; not verified against a real namespace here): a string
/// <c>ward-7</c> arrives as <c>A1 06 77 61 72 64 2D 37</c>. A header a Kafka producer set is the raw bytes.
/// </summary>
public static class AmqpHeaderValue
{
    /// <summary>
    /// Decodes one AMQP primitive that fills <paramref name="bytes"/> exactly: null, bool, the integer types (as long,
    /// or ulong for the unsigned 64-bit one), float, double, char (as string), timestamp (UTC <see cref="DateTimeOffset"/>),
    /// uuid, binary (byte[]), string and symbol (string). A timestamp outside what .NET holds is its milliseconds (long).
    /// False for anything else, e.g. a Kafka producer's raw bytes, a string that is not UTF-8, a compound value.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, out object? value)
    {
        value = null;
        if (bytes.IsEmpty)
        {
            return false;
        }

        var data = bytes[1..];
        (object? Value, int Length) decoded = bytes[0] switch
        {
            0x40 => (null, 0),
            0x41 => (true, 0),
            0x42 => (false, 0),
            0x56 when data.Length == 1 && data[0] <= 1 => (data[0] == 1, 1),
            0x43 or 0x44 => (0L, 0),
            0x50 when data.Length == 1 => (data[0], 1),
            0x51 when data.Length == 1 => ((long)(sbyte)data[0], 1),
            0x52 or 0x53 when data.Length == 1 => (data[0], 1),
            0x54 or 0x55 when data.Length == 1 => ((long)(sbyte)data[0], 1),
            0x60 when data.Length == 2 => (BinaryPrimitives.ReadUInt16BigEndian(data), 2),
            0x61 when data.Length == 2 => ((long)BinaryPrimitives.ReadInt16BigEndian(data), 2),
            0x70 when data.Length == 4 => (BinaryPrimitives.ReadUInt32BigEndian(data), 4),
            0x71 when data.Length == 4 => ((long)BinaryPrimitives.ReadInt32BigEndian(data), 4),
            0x72 when data.Length == 4 => (BinaryPrimitives.ReadSingleBigEndian(data), 4),
            0x73 when data.Length == 4 && Rune.IsValid(BinaryPrimitives.ReadInt32BigEndian(data)) => (new Rune(BinaryPrimitives.ReadInt32BigEndian(data)).ToString(), 4),
            0x80 when data.Length == 8 => (BinaryPrimitives.ReadUInt64BigEndian(data), 8),
            0x81 when data.Length == 8 => (BinaryPrimitives.ReadInt64BigEndian(data), 8),
            0x82 when data.Length == 8 => (BinaryPrimitives.ReadDoubleBigEndian(data), 8),
            0x83 when data.Length == 8 => (Timestamp(BinaryPrimitives.ReadInt64BigEndian(data)), 8),
            0x98 when data.Length == 16 => (new Guid(data, bigEndian: true), 16),
            0xA0 or 0xA1 or 0xA3 when data.Length >= 1 && data[0] == data.Length - 1 => (Variable(bytes[0], data[1..]), data.Length),
            0xB0 or 0xB1 or 0xB3 when data.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(data) == (uint)(data.Length - 4) => (Variable(bytes[0], data[4..]), data.Length),
            _ => (null, -1),
        };
        // Integers widen to long/ulong; 8-bit, 16-bit and 32-bit unsigned ones arrive boxed as their own type first.
        var length = decoded.Length;
        value = decoded.Value switch
        {
            byte b => (long)b,
            ushort s => (long)s,
            uint u => (long)u,
            var other => other,
        };
        if (length != data.Length || value is InvalidText)
        {
            value = null;
            return false;
        }

        return true;
    }

    /// <summary>
    /// A header's text: the AMQP string, symbol or other primitive (<see cref="Format"/>) when the value is AMQP-encoded with
    /// a constructor that cannot start UTF-8 text (0x80-0xBF: strings, symbols, binary, 64-bit numbers, timestamps,
    /// uuids), else the bytes as UTF-8 (a Kafka producer's header). Short constructors (0x40-0x7F) are ASCII letters,
    /// so a header starting with one is read as text; every type the gateway and IoT Hub send is in the first group.
    /// </summary>
    public static string ToText(ReadOnlySpan<byte> bytes) =>
        bytes is [>= 0x80 and <= 0xBF, ..] && TryDecode(bytes, out var value) ? Format(value) : Encoding.UTF8.GetString(bytes);

    /// <summary>
    /// The text of a decoded value, the one formatting every reader uses: strings as they are, numbers invariant (floats
    /// round-trip), booleans <c>true</c>/<c>false</c>, timestamps ISO 8601 UTC (<c>2026-11-24T08:00:05.0000000Z</c>),
    /// uuids <c>D</c> form, binary base64, null empty.
    /// </summary>
    public static string Format(object? value) => value switch
    {
        null => "",
        string text => text,
        bool flag => flag ? "true" : "false",
        byte[] binary => Convert.ToBase64String(binary),
        DateTimeOffset time => time.UtcDateTime.ToString("o", CultureInfo.InvariantCulture),
        Guid id => id.ToString("D", CultureInfo.InvariantCulture),
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    // AMQP timestamps are milliseconds since the Unix epoch; one outside .NET's range is kept as its number, not thrown on.
    private static object Timestamp(long milliseconds) =>
        milliseconds is >= -62_135_596_800_000 and <= 253_402_300_799_999 ? DateTimeOffset.FromUnixTimeMilliseconds(milliseconds) : milliseconds;

    private static object Variable(byte constructor, ReadOnlySpan<byte> content)
    {
        if (constructor is 0xA0 or 0xB0)
        {
            return content.ToArray();
        }

        // Strings are UTF-8, symbols ASCII; invalid bytes are not a value we decode.
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        try
        {
            var text = strict.GetString(content);
            return constructor is 0xA3 or 0xB3 && !Ascii.IsValid(content) ? InvalidText.Instance : text;
        }
        catch (DecoderFallbackException)
        {
            return InvalidText.Instance;
        }
    }

    private sealed class InvalidText
    {
        public static readonly InvalidText Instance = new();
    }
}
