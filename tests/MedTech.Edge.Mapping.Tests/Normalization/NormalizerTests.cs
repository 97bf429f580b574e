using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Mapping.Tests.Normalization;

public class NormalizerTests
{
    private static readonly Normalizer HeartRate = new(DeviceMapping.Parse("""
        { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
            "typeName": "heartrate", "typeMatchExpression": "$..[?(@hr)]",
            "deviceIdExpression": "$.matchedToken.device", "timestampExpression": "$.matchedToken.time",
            "patientIdExpression": "$.matchedToken.patient", "correlationIdExpression": "$.Properties.session",
            "values": [ { "valueName": "hr", "valueExpression": "$.matchedToken.hr", "required": true },
                        { "valueName": "note", "valueExpression": "$.matchedToken.note" } ] } } ] }
        """).EnsureValid("test"));

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"hr\": 1")]
    [InlineData("{\"hr\": 1} trailing")]
    public void GivenBodyThatIsNotJson_WhenNormalized_ThenInvalidDataFormat(string body)
    {
        var error = Assert.Single(Normalize(body).Errors);

        Assert.Equal(ErrorCodes.InvalidDataFormat, error.Code);
        Assert.DoesNotContain("trailing", error.Message);
    }

    [Fact]
    public void GivenInvalidUtf8_WhenNormalized_ThenInvalidDataFormat()
    {
        var result = HeartRate.Normalize(new DeviceMessage(new byte[] { 0x7B, 0xFF, 0xFE, 0x7D }, Corpus.Ingested));

        Assert.Equal(ErrorCodes.InvalidDataFormat, Assert.Single(result.Errors).Code);
    }

    [Fact]
    public void GivenNoTemplateMatches_WhenNormalized_ThenDroppedEvent()
    {
        Assert.Equal(ErrorCodes.DroppedEvent, Assert.Single(Normalize("""{"steps": 3}""").Errors).Code);
    }

    [Fact]
    public void GivenRequiredValueNullOrEmpty_WhenNormalized_ThenIncompatibleDataNamingTheField()
    {
        foreach (var hr in new[] { "null", "\"\"", "\"  \"" })
        {
            var error = Assert.Single(Normalize($$"""{"hr": {{hr}}, "device": "d", "time": "2024-01-01T00:00:00Z", "session": "s"}""", session: "s").Errors);
            Assert.Equal((ErrorCodes.IncompatibleData, 0, "heartrate"), (error.Code, error.TemplateIndex, error.TypeName));
            Assert.Contains("[hr]", error.Message);
        }
    }

    [Fact]
    public void GivenCorrelationExpressionWithoutValue_WhenNormalized_ThenRequiredError()
    {
        var error = Assert.Single(Normalize("""{"hr": 60, "device": "d", "time": "2024-01-01T00:00:00Z"}""", session: null).Errors);

        Assert.Contains("[correlationIdExpression]", error.Message);
    }

    [Fact]
    public void GivenOptionalValues_WhenMissingOrEmpty_ThenMissingIsOmittedAndEmptyIsKept()
    {
        var missing = Assert.Single(Normalize("""{"hr": 60, "device": "d", "time": "2024-01-01T00:00:00Z"}""").Measurements);
        var empty = Assert.Single(Normalize("""{"hr": 60, "note": "", "device": "d", "time": "2024-01-01T00:00:00Z"}""").Measurements);
        var objectValue = Assert.Single(Normalize("""{"hr": 60, "note": {"a": 1}, "device": "d", "time": "2024-01-01T00:00:00Z"}""").Measurements);

        Assert.Equal(["hr"], missing.Properties.Select(p => p.Name));
        Assert.Equal([new("hr", "60"), new MeasurementProperty("note", "")], empty.Properties);
        Assert.Equal(["hr"], objectValue.Properties.Select(p => p.Name));
        Assert.Null(missing.PatientId);
        Assert.Equal("s", missing.CorrelationId);
    }

    [Theory]
    [InlineData("2024-03-01T10:00:00+02:00", "2024-03-01T08:00:00Z")]
    [InlineData("2024-03-01T10:00:00-05:00", "2024-03-01T15:00:00Z")]
    [InlineData("2024-03-01T10:00:00", "2024-03-01T10:00:00Z")]
    [InlineData("2024-03-01T10:00:00.1234567Z", "2024-03-01T10:00:00.1234567Z")]
    [InlineData("2024-03-01", "2024-03-01T00:00:00Z")]
    public void GivenTimestampInAnyForm_WhenNormalized_ThenUtcWithoutHostTimeZone(string time, string expectedUtc)
    {
        var m = Assert.Single(Normalize($$"""{"hr": 60, "device": "d", "time": "{{time}}"}""").Measurements);

        Assert.Equal(DateTimeKind.Utc, m.OccurrenceTimeUtc.Kind);
        Assert.Equal(expectedUtc, UtcTime.ToText(m.OccurrenceTimeUtc));
    }

    [Theory]
    [InlineData("1700000000")]
    [InlineData("\"yesterday\"")]
    public void GivenTimestampThatIsNotADate_WhenNormalized_ThenIncompatibleData(string time)
    {
        var error = Assert.Single(Normalize($$"""{"hr": 60, "device": "d", "time": {{time}}}""").Errors);

        Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
        Assert.DoesNotContain("yesterday", error.Message);
    }

    [Theory]
    [InlineData("true", "True")]
    [InlineData("98.6", "98.6")]
    [InlineData("1.0", "1")]
    [InlineData("12345678901234567890", "12345678901234567890")]
    [InlineData("\"2024-03-01T10:00:00.5+02:00\"", "2024-03-01T10:00:00.5+02:00")]
    public void GivenValueOfAnyJsonType_WhenNormalized_ThenStoredAsMedTechWritesIt(string value, string expected)
    {
        var m = Assert.Single(Normalize($$"""{"hr": {{value}}, "device": "d", "time": "2024-01-01T00:00:00Z"}""").Measurements);

        Assert.Equal(expected, m.Properties[0].Value);
    }

    [Fact]
    public void GivenOneBadMatchAmongGoodOnes_WhenNormalized_ThenTheGoodOnesAreExtractedAndTheBadOneReported()
    {
        var result = Normalize("""[{"hr": 1, "device": "d", "time": "2024-01-01T00:00:00Z"}, {"hr": 2, "time": "2024-01-01T00:00:01Z"}]""");

        Assert.Single(result.Measurements);
        Assert.Contains("[deviceIdExpression]", Assert.Single(result.Errors).Message);
        Assert.False(result.IsSuccess);
    }

    [Fact]
    public void GivenCalculatedTemplateMatchingTheEnvelopeItself_WhenNormalized_ThenMatchedTokenIsTheWholeEnvelope()
    {
        var normalizer = new Normalizer(DeviceMapping.Parse("""
            { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
                "typeName": "t", "typeMatchExpression": "$..[?(@Body.hr)]",
                "deviceIdExpression": "$.matchedToken.Body.device", "timestampExpression": "$.Body.time",
                "values": [ { "valueName": "hr", "valueExpression": "$.matchedToken.Body.hr", "required": true } ] } } ] }
            """).EnsureValid("test"));

        var m = Assert.Single(normalizer.Normalize(Message("""{"hr": 7, "device": "d", "time": "2024-01-01T00:00:00Z"}""")).Measurements);

        Assert.Equal(("d", "7"), (m.DeviceId, m.Properties[0].Value));
    }

    [Fact]
    public void GivenEnvelopeProperties_WhenNormalized_ThenExpressionsReadThemAndIngestionTimeIsKept()
    {
        var m = Assert.Single(HeartRate.Normalize(Message("""{"hr": 60, "device": "d", "time": "2024-01-01T00:00:00Z"}""", "s")).Measurements);

        Assert.Equal("s", m.CorrelationId);
        Assert.Equal(Corpus.Ingested, m.IngestionTimeUtc);
    }

    private static NormalizationResult Normalize(string body, string? session = "s") => HeartRate.Normalize(Message(body, session));

    private static DeviceMessage Message(string body, string? session = null) => new(Corpus.Utf8(body), Corpus.Ingested)
    {
        Properties = session is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["session"] = session },
    };
}
