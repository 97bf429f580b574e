using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using static MedTech.Edge.Mapping.Tests.Normalization.NormalizationLimitsTests;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>What a hostile device can send, through the normalizer: each gives a clean result, never an exception.</summary>
public class HostileInputTests
{
    private static readonly Normalizer Readings = new(MappingOf("$..[?(@hr)]", "$.matchedToken.device", "$.matchedToken.time", patient: "$.matchedToken.patient"));

    private static readonly Normalizer WithCorrelation = new(DeviceMapping.Parse("""
        { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
            "typeName": "hr", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.matchedToken.device",
            "timestampExpression": "$.matchedToken.time", "correlationIdExpression": "$.Properties.session",
            "values": [ { "valueName": "hr", "valueExpression": "$.matchedToken.hr", "required": true },
                        { "valueName": "note", "valueExpression": "$.matchedToken.note" } ] } } ] }
        """).EnsureValid("test"));

    [Fact]
    public void GivenNulCharactersInValuesAndPropertyNames_WhenNormalized_ThenKeptExactly()
    {
        var message = new DeviceMessage(Corpus.Utf8("""{"hr": 60, "device": "d\u0000x", "note": "a\u0000b", "time": "2026-11-23T09:00:00Z"}"""), Corpus.Ingested)
        {
            Properties = new Dictionary<string, string> { ["ses\0sion"] = "other", ["session"] = "s\0" },
        };

        var m = Assert.Single(WithCorrelation.Normalize(message).Measurements);

        Assert.Equal(("d\0x", "s\0", "a\0b"), (m.DeviceId, m.CorrelationId, m.Properties[1].Value));
    }

    [Theory]
    [InlineData(10_000, false)]
    [InlineData(10_000, true)]
    [InlineData(65, false)]
    public void GivenDeeplyNestedJson_WhenNormalized_ThenInvalidDataFormatNotAStackOverflow(int depth, bool insideAValue)
    {
        var nested = new string('[', depth) + new string(']', depth);
        var body = insideAValue ? $$"""{"hr": {{nested}}, "device": "d", "time": "2026-11-23T09:00:00Z"}""" : nested;

        var error = Assert.Single(Readings.Normalize(Message(body)).Errors);

        Assert.Equal(ErrorCodes.InvalidDataFormat, error.Code);
    }

    [Fact]
    public void GivenAFiveMegabyteValue_WhenNormalized_ThenRefusedByDefaultAndKeptWholeWhenAllowed()
    {
        var value = new string('9', 5 << 20);
        var body = $$"""{"hr": "{{value}}", "device": "d", "time": "2026-11-23T09:00:00Z"}""";
        var allowing = new Normalizer(MappingOf("$..[?(@hr)]", "$.matchedToken.device", "$.matchedToken.time"), new NormalizationLimits { MaxValueLength = 8 << 20 });

        var refused = Assert.Single(Readings.Normalize(Message(body)).Errors);
        var kept = Assert.Single(allowing.Normalize(Message(body)).Measurements);

        Assert.Equal(ErrorCodes.IncompatibleData, refused.Code);
        Assert.True(refused.Message.Length < 200);
        Assert.Equal(value, kept.Properties[0].Value);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void GivenANumberThatIsNotFinite_WhenNormalized_ThenIncompatibleData(string number)
    {
        var error = Assert.Single(Readings.Normalize(Message($$"""{"hr": {{number}}, "device": "d", "time": "2026-11-23T09:00:00Z"}""")).Errors);

        Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
    }

    [Theory]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567890")]
    [InlineData("-123456789012345678901234567890", "-123456789012345678901234567890")]
    [InlineData("1e308", "1E+308")]
    [InlineData("4.9e-324", "4.94065645841247E-324")]
    public void GivenANumberAtTheEndsOfItsRange_WhenNormalized_ThenWrittenAsMedTechWritesIt(string number, string expected)
    {
        var m = Assert.Single(Readings.Normalize(Message($$"""{"hr": {{number}}, "device": "d", "time": "2026-11-23T09:00:00Z"}""")).Measurements);

        Assert.Equal(expected, m.Properties[0].Value);
    }

    [Theory]
    [InlineData("add(`123456789012345678901234567890`, `1`)")]
    [InlineData("multiply(`9223372036854775807`, `2`)")]
    [InlineData("divide(`1`, `0`)")]
    [InlineData("pow(`1e300`, `2`)")]
    public void GivenArithmeticBeyondItsRange_WhenNormalized_ThenTemplateExpressionError(string expression)
    {
        var normalizer = new Normalizer(DeviceMapping.Parse($$"""
            { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
                "typeName": "hr", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.matchedToken.device",
                "timestampExpression": "$.matchedToken.time",
                "values": [ { "valueName": "hr", "valueExpression": { "value": "{{expression}}", "language": "JmesPath" }, "required": true } ] } } ] }
            """).EnsureValid("test"));

        var error = Assert.Single(normalizer.Normalize(Message("""{"hr": 1, "device": "d", "time": "2026-11-23T09:00:00Z"}""")).Errors);

        Assert.Equal(ErrorCodes.TemplateExpression, error.Code);
        Assert.DoesNotContain("IConvertible", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\"a JSON string\"")]
    [InlineData("42")]
    [InlineData("[]")]
    [InlineData("[1, \"two\", null]")]
    [InlineData("null")]
    [InlineData("{}")]
    public void GivenABodyOfTheWrongShape_WhenNormalized_ThenDroppedEvent(string body)
    {
        Assert.Equal(ErrorCodes.DroppedEvent, Assert.Single(Readings.Normalize(Message(body)).Errors).Code);
    }

    [Fact]
    public void GivenAnArrayBodyOfReadings_WhenNormalized_ThenEachIsAMeasurement()
    {
        var result = Readings.Normalize(Message($"[{Reading("2026-11-23T09:00:00Z")}, {Reading("2026-11-23T09:01:00Z")}]"));

        Assert.Equal(2, result.Measurements.Count);
    }

    [Fact]
    public void GivenDuplicateKeys_WhenNormalized_ThenTheLastOneWinsAsInUpstream()
    {
        var m = Assert.Single(Readings.Normalize(Message("""{"hr": 60, "hr": 61, "device": "a", "device": "b", "time": "2026-11-23T09:00:00Z"}""")).Measurements);

        Assert.Equal(("61", "b"), (m.Properties[0].Value, m.DeviceId));
    }

    [Theory]
    [InlineData(new byte[] { 0x7B, 0xFF, 0x7D }, ErrorCodes.InvalidDataFormat)] // a byte that is never UTF-8, where JSON needs a name
    [InlineData(new byte[] { 0x22, 0xC0, 0xAF, 0x22 }, ErrorCodes.DroppedEvent)] // an overlong encoding, inside a string no template reads
    [InlineData(new byte[] { 0x22, 0xED, 0xA0, 0x80, 0x22 }, ErrorCodes.DroppedEvent)] // a UTF-8-encoded surrogate, likewise
    [InlineData(new byte[] { 0x22, 0xE2, 0x82 }, ErrorCodes.InvalidDataFormat)] // cut mid-character: the string never ends
    [InlineData(new byte[] { 0xFE, 0xFF, 0x00, 0x7B, 0x00, 0x7D }, ErrorCodes.InvalidDataFormat)] // UTF-16
    public void GivenInvalidUtf8_WhenNormalized_ThenReadAsUpstreamReadsItWithU_FFFD_AndRefusedOrDeadLettered(byte[] body, string code)
    {
        Assert.Equal(code, Assert.Single(Readings.Normalize(new DeviceMessage(body, Corpus.Ingested)).Errors).Code);
    }

    [Fact]
    public void GivenBytesThatAreNotUtf8InAFieldNoTemplateReads_WhenNormalized_ThenTheReadingIsChartedAsMedTechChartsIt()
    {
        // A monitor that writes its ward name in Latin-1: MedTech charted its heart rate, so must we.
        var body = Corpus.Utf8("""{"hr": 61, "device": "d", "ward": "Z""").Concat(new byte[] { 0xFC }).Concat(Corpus.Utf8("""rich", "time": "2026-11-23T09:00:00Z"}""")).ToArray();

        var m = Assert.Single(Readings.Normalize(new DeviceMessage(body, Corpus.Ingested)).Measurements);

        Assert.Equal(("61", "d"), (m.Properties[0].Value, m.DeviceId));
    }

    [Theory]
    [InlineData("device", "deviceIdExpression")]
    [InlineData("patient", "patientIdExpression")]
    [InlineData("hr", "hr")]
    public void GivenBytesThatAreNotUtf8InAnIdOrValue_WhenNormalized_ThenInvalidDataFormatNamingTheFieldNotAReplacementCharacterCharted(string field, string named)
    {
        // 0xC3 starts a two-byte character; the 'Y' after it is no continuation byte, so 0xC3 alone is not UTF-8.
        string Text(string name, string good) => name == field ? "X\u0001Y" : good;
        var json = $$"""{"hr": "{{Text("hr", "61")}}", "device": "{{Text("device", "d")}}", "patient": "{{Text("patient", "p")}}", "time": "2026-11-23T09:00:00Z"}""";
        var body = Corpus.Utf8(json).Select(b => b == 0x01 ? (byte)0xC3 : b).ToArray();

        var result = Readings.Normalize(new DeviceMessage(body, Corpus.Ingested));

        Assert.Empty(result.Measurements);
        var error = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.InvalidDataFormat, error.Code);
        Assert.Contains($"[{named}]", error.Message);
    }

    [Fact]
    public void GivenAReplacementCharacterSentAsValidUtf8_WhenNormalized_ThenItIsKeptAsSent()
    {
        // U+FFFD is a character like any other in a body that is UTF-8: only one standing for unreadable bytes is refused.
        var m = Assert.Single(Readings.Normalize(new DeviceMessage(Corpus.Utf8("{\"hr\": \"a\uFFFDb\", \"device\": \"d\", \"time\": \"2026-11-23T09:00:00Z\"}"), Corpus.Ingested)).Measurements);

        Assert.Equal("a\uFFFDb", m.Properties[0].Value);
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("   \r\n\t ")]
    [InlineData("\uFEFF  ")]
    public void GivenAWhitespaceOnlyBody_WhenNormalized_ThenInvalidDataFormatAsUpstreamNotDroppedEvent(string body)
    {
        Assert.Equal(ErrorCodes.InvalidDataFormat, Assert.Single(Readings.Normalize(Message(body)).Errors).Code);
    }

    [Theory]
    [InlineData("\0")]
    [InlineData("\0\0\0\0")]
    [InlineData("\r\n\0 ")]
    public void GivenTrailingNulsOrWhitespaceAfterTheJson_WhenNormalized_ThenTheReadingIsChartedAsUpstreamChartsIt(string tail)
    {
        Assert.Single(Readings.Normalize(Message(Reading("2026-11-23T09:00:00Z") + tail)).Measurements);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("}")]
    [InlineData("\0x")]
    public void GivenTextAfterTheJson_WhenNormalized_ThenInvalidDataFormatWhereUpstreamChartsTheFirstValue(string tail)
    {
        Assert.Equal(ErrorCodes.InvalidDataFormat, Assert.Single(Readings.Normalize(Message(Reading("2026-11-23T09:00:00Z") + tail)).Errors).Code);
    }

    [Fact]
    public void GivenAByteOrderMark_WhenNormalized_ThenTheMessageReadsAsWithout()
    {
        var body = Encoding.UTF8.GetPreamble().Concat(Corpus.Utf8(Reading("2026-11-23T09:00:00Z"))).ToArray();

        Assert.True(Readings.Normalize(new DeviceMessage(body, Corpus.Ingested)).IsSuccess);
    }

    [Fact]
    public void GivenAnUnpairedSurrogateEscapedInJson_WhenNormalized_ThenItReadsAsTheReplacementCharacterAsInUpstream()
    {
        var m = Assert.Single(Readings.Normalize(Message("""{"hr": "a\ud800b", "device": "\udc00", "time": "2026-11-23T09:00:00Z"}""")).Measurements);

        Assert.Equal(("a\uFFFDb", "\uFFFD"), (m.Properties[0].Value, m.DeviceId));
    }

    [Fact]
    public void GivenAnUnpairedSurrogateInAnEnvelopeProperty_WhenExtracted_ThenIncompatibleDataNamingTheField()
    {
        var message = new DeviceMessage(Corpus.Utf8(Reading("2026-11-23T09:00:00Z")), Corpus.Ingested)
        {
            Properties = new Dictionary<string, string> { ["session"] = "s\ud800" },
        };

        var error = Assert.Single(WithCorrelation.Normalize(message).Errors);

        Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
        Assert.Contains("[correlationIdExpression]", error.Message);
    }

    [Fact]
    public void GivenCharactersOutsideTheBasicPlane_WhenNormalized_ThenKeptExactly()
    {
        var m = Assert.Single(Readings.Normalize(Message("""{"hr": "\ud83d\udc93 60", "device": "d\ud800\udc00", "time": "2026-11-23T09:00:00Z"}""")).Measurements);

        Assert.Equal(("\U0001F493 60", "d\U00010000"), (m.Properties[0].Value, m.DeviceId));
    }
}
