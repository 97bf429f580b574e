using System.Buffers.Binary;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Writer.DeviceMessages;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// Header values as Event Hubs hands AMQP properties to a Kafka consumer (the AMQP 1.0 encoding, type code first), and
/// the envelope MedTech built from them: application properties in Properties, the service's in SystemProperties.
/// </summary>
public sealed class AmqpHeaderValueTests
{
    public static byte[] Str8(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return [0xA1, (byte)bytes.Length, .. bytes];
    }

    public static byte[] Timestamp(DateTime utc)
    {
        var bytes = new byte[9];
        bytes[0] = 0x83;
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(1), new DateTimeOffset(utc).ToUnixTimeMilliseconds());
        return bytes;
    }

    [Fact]
    public void GivenAmqpEncodedPrimitives_WhenDecoded_ThenEachIsTheTextMedTechsEnvelopeShows()
    {
        Assert.Equal("monitor-1", AmqpHeaderValue.TryDecode(Str8("monitor-1")));
        var long300 = Encoding.UTF8.GetBytes(new string('x', 300));
        Assert.Equal(new string('x', 300), AmqpHeaderValue.TryDecode([0xB1, 0, 0, 1, 44, .. long300]));
        Assert.Equal("sym", AmqpHeaderValue.TryDecode([0xA3, 3, .. "sym"u8]));
        Assert.Equal("2026-11-24T08:00:05.0000000Z", AmqpHeaderValue.TryDecode(Timestamp(new DateTime(2026, 11, 24, 8, 0, 5, DateTimeKind.Utc))));
        Assert.Equal("1234", AmqpHeaderValue.TryDecode([0x71, 0, 0, 4, 0xD2]));
        Assert.Equal("-1", AmqpHeaderValue.TryDecode([0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
        Assert.Equal("18446744073709551615", AmqpHeaderValue.TryDecode([0x80, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
        Assert.Equal("-5", AmqpHeaderValue.TryDecode([0x54, 0xFB]));
        Assert.Equal("0", AmqpHeaderValue.TryDecode([0x43]));
        Assert.Equal("true", AmqpHeaderValue.TryDecode([0x41]));
        Assert.Equal("false", AmqpHeaderValue.TryDecode([0x56, 0]));
        Assert.Equal("1.5", AmqpHeaderValue.TryDecode([0x82, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]));
        Assert.Equal("AQID", AmqpHeaderValue.TryDecode([0xA0, 3, 1, 2, 3]));
        Assert.Equal("00112233-4455-6677-8899-aabbccddeeff", AmqpHeaderValue.TryDecode([0x98, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF]));
    }

    [Fact]
    public void GivenBytesThatAreNotExactlyOneAmqpValue_WhenRead_ThenTheyAreTakenAsUtf8TextAsAKafkaProducerWroteThem()
    {
        // A Kafka producer's header, a length that does not match, a truncated number, invalid UTF-8 in an AMQP string, a compound value.
        Assert.Null(AmqpHeaderValue.TryDecode("monitor-1"u8));
        Assert.Null(AmqpHeaderValue.TryDecode([0xA1, 9, .. "short"u8]));
        Assert.Null(AmqpHeaderValue.TryDecode([0x81, 0, 0]));
        Assert.Null(AmqpHeaderValue.TryDecode([0xA1, 2, 0xC3, 0x28]));
        Assert.Null(AmqpHeaderValue.TryDecode([0xB1, 0xFF, 0xFF, 0xFF, 0xFF, 0x41]));
        Assert.Null(AmqpHeaderValue.TryDecode([0xC1, 1, 0]));
        Assert.Null(AmqpHeaderValue.TryDecode([]));
        Assert.Equal("monitor-1", AmqpHeaderValue.Read("monitor-1"u8, amqp: true));
        Assert.Equal("\uFFFD(", AmqpHeaderValue.Read([0xC3, 0x28], amqp: true));

        // Utf8 mode never decodes: an AMQP-looking value stays its bytes.
        var asText = AmqpHeaderValue.Read([0xA1, 3, .. "abc"u8], amqp: false);
        Assert.NotEqual("abc", asText);
        Assert.EndsWith("\u0003abc", asText, StringComparison.Ordinal);

        // A timestamp beyond what DateTime holds is kept as its number, never thrown on.
        Assert.Equal(long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), AmqpHeaderValue.TryDecode([0x83, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
    }

    [Fact]
    public void GivenAnIotHubRoutedEvent_WhenItsEnvelopeIsBuilt_ThenSystemPropertiesAndApplicationPropertiesAreWhereMedTechPutThem()
    {
        var enqueued = new DateTime(2026, 11, 24, 8, 0, 7, DateTimeKind.Utc);
        var result = new ConsumeResult<string, byte[]>
        {
            Topic = "devices",
            Partition = 2,
            Offset = 41,
            Message = new Message<string, byte[]>
            {
                Key = null!,
                Value = """{"heartRate":70}"""u8.ToArray(),
                Timestamp = new Timestamp(enqueued),
                Headers =
                [
                    new Header("iothub-connection-device-id", Str8("monitor-1")),
                    new Header("iothub-enqueuedtime", Timestamp(enqueued)),
                    new Header("iothub-creation-time-utc", Str8("2026-11-24T08:00:05Z")),
                    new Header("x-opt-partition-key", Str8("monitor-1")),
                    new Header("ward", "4B"u8.ToArray()),
                    new Header("ward", "5C"u8.ToArray()),
                    new Header("huge", new byte[EventHubEnvelope.MaxHeaderValueBytes + 1]),
                ],
            },
        };

        var message = EventHubEnvelope.Create(result, amqpHeaders: true);

        Assert.Equal(enqueued, message.IngestionTimeUtc);
        Assert.Equal("""{"heartRate":70}""", Encoding.UTF8.GetString(message.Body.Span));
        Assert.Equal(new Dictionary<string, string> { ["iothub-creation-time-utc"] = "2026-11-24T08:00:05Z", ["ward"] = "5C" }, message.Properties);
        Assert.Equal(new Dictionary<string, string>
        {
            ["iothub-connection-device-id"] = "monitor-1",
            ["iothub-enqueuedtime"] = "2026-11-24T08:00:07.0000000Z",
            ["x-opt-partition-key"] = "monitor-1",
            ["x-opt-enqueued-time"] = "2026-11-24T08:00:07.0000000Z",
            ["x-opt-sequence-number"] = "41",
        }, message.SystemProperties);
    }

    [Fact]
    public void GivenAnEventWithThousandsOfHeadersAndNoBody_WhenItsEnvelopeIsBuilt_ThenItIsBoundedAndTheBodyIsEmpty()
    {
        var headers = new Headers();
        for (var i = 0; i < 5000; i++)
        {
            headers.Add($"h{i}", Str8("v"));
        }

        var message = EventHubEnvelope.Create(new ConsumeResult<string, byte[]> { Message = new Message<string, byte[]> { Value = null!, Headers = headers } }, amqpHeaders: true);

        Assert.Equal(EventHubEnvelope.MaxHeaders, message.Properties.Count);
        Assert.True(message.Body.IsEmpty);
    }
}
