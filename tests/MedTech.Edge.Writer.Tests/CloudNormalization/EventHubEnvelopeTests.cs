using System.Buffers.Binary;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Writer.DeviceMessages;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// The envelope MedTech built from an Event Hubs event, from the headers a Kafka consumer gets (AMQP 1.0 encodings,
/// decoded by Hub's <c>AmqpHeaderValue</c>): application properties in Properties, the service's in SystemProperties,
/// with the types MedTech's envelope gives them (numbers as numbers, booleans, null; times as ISO 8601 UTC text).
/// </summary>
public sealed class EventHubEnvelopeTests
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

    private static byte[] Long(long value)
    {
        var bytes = new byte[9];
        bytes[0] = 0x81;
        BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(1), value);
        return bytes;
    }

    [Fact]
    public void GivenAnIotHubRoutedEvent_WhenItsEnvelopeIsBuilt_ThenEachPropertyIsWhereAndAsMedTechPutIt()
    {
        var enqueued = new DateTime(2026, 11, 24, 8, 0, 7, DateTimeKind.Utc);
        var message = EventHubEnvelope.Create(Event(enqueued,
            new Header("iothub-connection-device-id", Str8("monitor-1")),
            new Header("iothub-enqueuedtime", Timestamp(enqueued)),
            new Header("iothub-creation-time-utc", Str8("2026-11-24T08:00:05Z")),
            new Header("batchsize", [0x71, 0, 0, 0, 60]), // AMQP int
            new Header("calibrated", [0x41]), // AMQP true
            new Header("gain", [0x82, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]), // AMQP double 1.5
            new Header("note", [0x40]), // AMQP null
            new Header("ward", "4B"u8.ToArray()),
            new Header("ward", "5C"u8.ToArray()),
            new Header("huge", new byte[EventHubEnvelope.MaxHeaderValueBytes + 1])), amqpHeaders: true);

        var envelope = Envelope.Create(null, message);

        Assert.Equal(enqueued, message.IngestionTimeUtc);
        Assert.True(JToken.DeepEquals(Envelope.ParseText("""
            { "iothub-creation-time-utc": "2026-11-24T08:00:05Z", "batchsize": 60, "calibrated": true, "gain": 1.5, "note": null, "ward": "5C" }
            """), envelope[Envelope.Properties]), envelope[Envelope.Properties]!.ToString());
        var system = (JObject)envelope[Envelope.SystemProperties]!;
        Assert.Equal(JTokenType.String, system["iothub-enqueuedtime"]!.Type);
        Assert.True(JToken.DeepEquals(Envelope.ParseText("""
            { "iothub-connection-device-id": "monitor-1", "iothub-enqueuedtime": "2026-11-24T08:00:07.0000000Z", "x-opt-partition-key": "monitor-1",
              "x-opt-enqueued-time": "2026-11-24T08:00:07.0000000Z", "x-opt-sequence-number": 41 }
            """), system), system.ToString());
        Assert.Equal(JTokenType.Integer, system["x-opt-sequence-number"]!.Type);
    }

    [Fact]
    public void GivenTypedProperties_WhenAMappingFiltersAndExtractsThem_ThenNumbersCompareAsNumbersAndBooleansReadAsMedTechWritesThem()
    {
        // A filter comparing a number: as text, "9" > "10"; as MedTech's number, 9 < 10.
        var mapping = DeviceMapping.Parse("""
            { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
              "typeName": "hr", "typeMatchExpression": "$..[?(@.batchsize > 10)]",
              "deviceIdExpression": "$.SystemProperties.iothub-connection-device-id",
              "timestampExpression": "$.SystemProperties.iothub-enqueuedtime",
              "values": [ { "valueName": "hr", "valueExpression": "$.Body.hr", "required": true },
                          { "valueName": "calibrated", "valueExpression": "$.Properties.calibrated" } ] } } ] }
            """).EnsureValid("test");
        var enqueued = new DateTime(2026, 11, 24, 8, 0, 7, DateTimeKind.Utc);
        NormalizationResult Normalize(long batchSize) => new Normalizer(mapping).Normalize(EventHubEnvelope.Create(Event(enqueued,
            new Header("iothub-connection-device-id", Str8("monitor-1")),
            new Header("iothub-enqueuedtime", Timestamp(enqueued)),
            new Header("batchsize", Long(batchSize)),
            new Header("calibrated", [0x41])), amqpHeaders: true));

        Assert.Equal(ErrorCodes.DroppedEvent, Assert.Single(Normalize(9).Errors).Code);
        var result = Normalize(60);
        Assert.True(result.IsSuccess, string.Join(" | ", result.Errors.Select(e => e.Message)));
        var m = Assert.Single(result.Measurements);
        Assert.Equal(("monitor-1", enqueued), (m.DeviceId, m.OccurrenceTimeUtc));
        Assert.Equal(["70", "True"], m.Properties.Select(p => p.Value));
    }

    [Fact]
    public void GivenUtf8HeaderEncoding_WhenItsEnvelopeIsBuilt_ThenAnAmqpLookingValueStaysItsBytesAsText()
    {
        var message = EventHubEnvelope.Create(Event(DateTime.UtcNow, new Header("ward", [0xA1, 3, .. "abc"u8]), new Header("bad", [0xC3, 0x28])), amqpHeaders: false);

        var properties = Envelope.Create(null, message)[Envelope.Properties]!;

        Assert.EndsWith("\u0003abc", (string)properties["ward"]!, StringComparison.Ordinal);
        Assert.Equal("\uFFFD(", (string)properties["bad"]!);
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

        Assert.Equal(EventHubEnvelope.MaxHeaders, message.PropertyValues.Count);
        Assert.True(message.Body.IsEmpty);
    }

    // A device can send application properties named like Event Hubs' own annotations; over Kafka they are headers like any
    // other, so they stay the device's Properties, and the system's values come from the record the broker stamped.
    [Fact]
    public void GivenADevicesOwnXOptHeaders_WhenItsEnvelopeIsBuilt_ThenTheyStayPropertiesAndTheSystemOnesComeFromTheRecord()
    {
        var enqueued = new DateTime(2026, 11, 24, 8, 0, 7, DateTimeKind.Utc);
        var message = EventHubEnvelope.Create(Event(enqueued,
            new Header("x-opt-enqueued-time", Str8("2001-01-01T00:00:00Z")),
            new Header("x-opt-sequence-number", Long(7)),
            new Header("x-opt-partition-key", Str8("other-device"))), amqpHeaders: true);

        var envelope = Envelope.Create(null, message);

        Assert.True(JToken.DeepEquals(Envelope.ParseText("""
            { "x-opt-enqueued-time": "2001-01-01T00:00:00Z", "x-opt-sequence-number": 7, "x-opt-partition-key": "other-device" }
            """), envelope[Envelope.Properties]), envelope[Envelope.Properties]!.ToString());
        Assert.True(JToken.DeepEquals(Envelope.ParseText("""
            { "x-opt-enqueued-time": "2026-11-24T08:00:07.0000000Z", "x-opt-sequence-number": 41, "x-opt-partition-key": "monitor-1" }
            """), envelope[Envelope.SystemProperties]), envelope[Envelope.SystemProperties]!.ToString());
    }

    // Padding cannot push IoT Hub's own device id past the header cap, and a second one (before or after) refuses the message.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GivenASystemPropertyTwice_WhenItsEnvelopeIsBuilt_ThenItIsRefusedEvenBehindThePropertyCap(bool spoofFirst)
    {
        var headers = new List<Header>();
        if (spoofFirst)
        {
            headers.Add(new Header("iothub-connection-device-id", Str8("victim")));
        }

        headers.AddRange(Enumerable.Range(0, EventHubEnvelope.MaxHeaders + 10).Select(i => new Header($"p{i}", Str8("x"))));
        headers.Add(new Header("iothub-connection-device-id", Str8("monitor-1")));
        if (!spoofFirst)
        {
            headers.Add(new Header("iothub-connection-device-id", Str8("victim")));
        }

        var ex = Assert.Throws<DuplicateSystemPropertyException>(() => EventHubEnvelope.Create(Event(DateTime.UtcNow, [.. headers]), amqpHeaders: true));
        Assert.DoesNotContain("victim", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GivenIotHubsDeviceIdBehindThePropertyCap_WhenItsEnvelopeIsBuilt_ThenItIsStillRead()
    {
        var headers = Enumerable.Range(0, EventHubEnvelope.MaxHeaders + 10).Select(i => new Header($"p{i}", Str8("x")))
            .Append(new Header("iothub-connection-device-id", Str8("monitor-1"))).ToArray();

        var message = EventHubEnvelope.Create(Event(DateTime.UtcNow, headers), amqpHeaders: true);

        Assert.Equal("monitor-1", (string)Envelope.Create(null, message)[Envelope.SystemProperties]!["iothub-connection-device-id"]!);
        Assert.Equal(EventHubEnvelope.MaxHeaders, message.PropertyValues.Count);
    }

    private static ConsumeResult<string, byte[]> Event(DateTime enqueued, params Header[] headers)
    {
        var list = new Headers();
        foreach (var header in headers)
        {
            list.Add(header);
        }

        return new ConsumeResult<string, byte[]>
        {
            Topic = "devices",
            Partition = 2,
            Offset = 41,
            Message = new Message<string, byte[]> { Key = "monitor-1", Value = """{"hr":70}"""u8.ToArray(), Timestamp = new Timestamp(enqueued), Headers = list },
        };
    }
}
