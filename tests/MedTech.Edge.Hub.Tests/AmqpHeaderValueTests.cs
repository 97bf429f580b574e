using System.Text;
using Microsoft.Azure.Amqp;
using Microsoft.Azure.Amqp.Encoding;

namespace MedTech.Edge.Hub.Tests;

/// <summary>
/// Header values as a Kafka consumer gets AMQP properties from Event Hubs: the AMQP encoding of the value. The bytes
/// come from Microsoft.Azure.Amqp, the AMQP library under the Event Hubs SDK, so they are what the SDK puts on the wire.
/// </summary>
public class AmqpHeaderValueTests
{
    public static TheoryData<object?> Values => new()
    {
        "ward-7-gateway", "", new string('x', 300), "Bett 3 – Intensiv ✓", null, true, false, 0L, 42L, -1L, long.MaxValue, long.MinValue, 3.5d,
        new Guid("0f8fad5b-d9cb-469f-a165-70867728950e"),
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void GivenAValueTheAmqpLibraryEncoded_WhenDecoded_ThenItIsTheValue(object? value)
    {
        Assert.True(AmqpHeaderValue.TryDecode(Encode(value), out var decoded));

        Assert.Equal(value, decoded);
    }

    [Fact]
    public void GivenIntegersOfEveryWidth_WhenDecoded_ThenTheyAreTheirValueAsLong()
    {
        object[] values = [(byte)200, (sbyte)-5, (ushort)60000, (short)-300, 4_000_000_000u, -70_000, 5u, 0u, 7UL];
        foreach (var value in values)
        {
            Assert.True(AmqpHeaderValue.TryDecode(Encode(value), out var decoded), value.GetType().Name);
            Assert.Equal(Convert.ToDecimal(value, System.Globalization.CultureInfo.InvariantCulture), Convert.ToDecimal(decoded, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void GivenAnIotHubEnqueuedTime_WhenDecoded_ThenItIsTheUtcInstantToTheMillisecond()
    {
        var enqueued = new DateTime(2026, 12, 7, 16, 42, 11, 123, DateTimeKind.Utc);

        Assert.True(AmqpHeaderValue.TryDecode(Encode(enqueued), out var decoded));

        Assert.Equal(new DateTimeOffset(enqueued), decoded);
        Assert.Equal("2026-12-07T16:42:11.1230000Z", AmqpHeaderValue.ToText(Encode(enqueued)));
    }

    [Fact]
    public void GivenBinaryAndSymbols_WhenDecoded_ThenTheyAreBytesAndText()
    {
        Assert.True(AmqpHeaderValue.TryDecode(Encode(new ArraySegment<byte>([1, 2, 0, 255])), out var binary));
        Assert.Equal(new byte[] { 1, 2, 0, 255 }, binary);
        Assert.True(AmqpHeaderValue.TryDecode(Encode(new AmqpSymbol("application/json")), out var symbol));
        Assert.Equal("application/json", symbol);
    }

    [Fact]
    public void GivenTheGatewayHeaderFromEitherTransport_WhenReadAsText_ThenItIsTheGatewayName()
    {
        // The Kafka transport sends UTF-8; the Event Hubs SDK transport an AMQP string (A1 len bytes).
        Assert.Equal("ward-7-gateway", AmqpHeaderValue.ToText(Encoding.UTF8.GetBytes("ward-7-gateway")));
        Assert.Equal("ward-7-gateway", AmqpHeaderValue.ToText(Encode("ward-7-gateway")));
        Assert.Equal([0xA1, 14], Encode("ward-7-gateway")[..2]);
        Assert.Equal("Bett ✓", AmqpHeaderValue.ToText(Encode("Bett ✓")));
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0xA1, 5, (byte)'a' })]
    [InlineData(new byte[] { 0xA1, 1, (byte)'a', (byte)'b' })]
    [InlineData(new byte[] { 0xB1, 0xFF, 0xFF, 0xFF, 0xFF, (byte)'a' })]
    [InlineData(new byte[] { 0xA1, 2, 0xC3, 0x28 })]
    [InlineData(new byte[] { 0xA3, 1, 0xE9 })]
    [InlineData(new byte[] { 0x71, 0, 0, 1 })]
    [InlineData(new byte[] { 0x56, 2 })]
    [InlineData(new byte[] { 0x73, 0, 0, 0xD8, 0 })]
    [InlineData(new byte[] { 0xC0, 1, 0 })]
    [InlineData(new byte[] { 0x00, 0x53, 0x70 })]
    public void GivenBytesThatAreNotOneWholeAmqpPrimitive_WhenDecoded_ThenItSaysSo(byte[] bytes)
    {
        Assert.False(AmqpHeaderValue.TryDecode(bytes, out var value));
        Assert.Null(value);
    }

    [Fact]
    public void GivenAKafkaProducersHeaderThatLooksLikeAShortAmqpType_WhenReadAsText_ThenItStaysText()
    {
        // 'q' is AMQP's int constructor; "qrst" + one byte would be an int, but text starting with ASCII is text.
        Assert.Equal("qrstu", AmqpHeaderValue.ToText("qrstu"u8));
        Assert.Equal("A", AmqpHeaderValue.ToText("A"u8));
    }

    [Fact]
    public void GivenAMegabyteString_WhenDecoded_ThenItIsWhole()
    {
        var text = new string('ü', 512 * 1024);

        Assert.Equal(text, AmqpHeaderValue.ToText(Encode(text)));
    }

    [Fact]
    public void GivenEveryPrimitiveKind_WhenFormatted_ThenOneInvariantTextForEach()
    {
        // The one formatting both readers use (the writer's gateway header and its device-message envelope's text).
        Assert.Equal("monitor-1", AmqpHeaderValue.Format("monitor-1"));
        Assert.Equal("", AmqpHeaderValue.Format(null));
        Assert.Equal(("true", "false"), (AmqpHeaderValue.Format(true), AmqpHeaderValue.Format(false)));
        Assert.Equal("18446744073709551615", AmqpHeaderValue.Format(ulong.MaxValue));
        Assert.Equal("-1", AmqpHeaderValue.Format(-1L));
        Assert.Equal(("1.5", "0.1"), (AmqpHeaderValue.Format(1.5d), AmqpHeaderValue.Format(0.1f)));
        Assert.Equal("AQID", AmqpHeaderValue.Format(new byte[] { 1, 2, 3 }));
        Assert.Equal("00112233-4455-6677-8899-aabbccddeeff", AmqpHeaderValue.Format(new Guid("00112233-4455-6677-8899-aabbccddeeff")));
        Assert.Equal("2026-11-24T08:00:05.0000000Z", AmqpHeaderValue.Format(new DateTimeOffset(2026, 11, 24, 9, 0, 5, TimeSpan.FromHours(1))));
    }

    [Fact]
    public void GivenATimestampBeyondWhatDotNetHolds_WhenDecoded_ThenItIsItsMillisecondsNotAnException()
    {
        Assert.True(AmqpHeaderValue.TryDecode([0x83, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], out var value));

        Assert.Equal(long.MaxValue, value);
        Assert.True(AmqpHeaderValue.TryDecode([0x83, 0x80, 0, 0, 0, 0, 0, 0, 0], out var earliest));
        Assert.Equal(long.MinValue, earliest);
    }

    [Fact]
    public void GivenAnAmqpStringThatIsNotUtf8OrALengthThatLies_WhenDecoded_ThenNotAValue()
    {
        Assert.False(AmqpHeaderValue.TryDecode([0xA1, 2, 0xC3, 0x28], out _));
        Assert.False(AmqpHeaderValue.TryDecode([0xA1, 9, .. "short"u8], out _));
        Assert.False(AmqpHeaderValue.TryDecode([0xB1, 0xFF, 0xFF, 0xFF, 0xFF, 0x41], out _));
        Assert.False(AmqpHeaderValue.TryDecode([0xA3, 2, 0xC3, 0xBC], out _)); // a symbol must be ASCII
    }

    private static byte[] Encode(object? value)
    {
        var buffer = new ByteBuffer(16, true);
        AmqpEncoding.EncodeObject(value, buffer);
        return buffer.Buffer.AsSpan(buffer.Offset, buffer.Length).ToArray();
    }
}
