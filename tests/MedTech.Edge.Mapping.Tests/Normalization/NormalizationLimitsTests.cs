using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>What one message may cost and produce: time, plausible times, counts and lengths.</summary>
public class NormalizationLimitsTests
{
    // A catastrophic pattern from a mapping against a device value: exponential backtracking without a time limit.
    private static readonly DeviceMapping RegexMapping = MappingOf("$.Body.readings[?(@.code =~ /^(a+)+$/)]", "$.matchedToken.device", "$.matchedToken.time");

    private static readonly DeviceMapping ReadingsMapping = MappingOf("$..[?(@hr)]", "$.matchedToken.device", "$.matchedToken.time", patient: "$.matchedToken.patient");

    [Fact]
    public void GivenABacktrackingRegexAndALongDeviceValue_WhenNormalized_ThenTemplateExpressionErrorAndTheNextMessageIsNormalized()
    {
        var normalizer = new Normalizer(RegexMapping);
        var hostile = $$"""{"readings": [{"code": "{{new string('a', 40)}}!", "device": "d", "time": "2026-11-23T09:00:00Z", "hr": 1}]}""";
        var good = """{"readings": [{"code": "aaa", "device": "d", "time": "2026-11-23T09:00:00Z", "hr": 1}]}""";

        var failed = normalizer.Normalize(Message(hostile));
        var next = normalizer.Normalize(Message(good));

        var error = Assert.Single(failed.Errors);
        Assert.Equal((ErrorCodes.TemplateExpression, 0), (error.Code, error.TemplateIndex));
        Assert.Contains("RegexMatchTimeout", error.Message);
        Assert.DoesNotContain("aaaa", error.Message);
        Assert.True(next.IsSuccess);
    }

    [Fact]
    public void GivenManyReadingsEachCostingAJsonPathEvaluation_WhenTheMessageOutrunsItsTime_ThenOneTemplateExpressionError()
    {
        // 10,000 readings, each read through the general JSONPath engine: tens of milliseconds at least, against 1 ms.
        var mapping = MappingOf("$.Body.readings[*]", "$.matchedToken['device']", "$.matchedToken['time']");
        var limits = new NormalizationLimits { MaxTimePerMessage = TimeSpan.FromMilliseconds(1), RegexMatchTimeout = TimeSpan.FromMilliseconds(1) };
        var body = Readings(10_000, i => $$"""{"device": "d", "time": "2026-11-23T09:00:00Z", "hr": {{i}}}""");

        var limited = new Normalizer(mapping, limits).Normalize(Message(body));
        var unlimited = new Normalizer(mapping, new NormalizationLimits { MaxTimePerMessage = TimeSpan.FromMinutes(10) }).Normalize(Message(body));

        var error = limited.Errors[0];
        Assert.Equal(ErrorCodes.TemplateExpression, error.Code);
        Assert.Contains("MaxTimePerMessage", error.Message);
        Assert.Single(limited.Errors);
        Assert.True(limited.Measurements.Count < 10_000);
        Assert.Equal(10_000, unlimited.Measurements.Count);
    }

    [Theory]
    [InlineData("2016-11-21T10:00:00Z", true)] // 10 years and a day before receipt
    [InlineData("2016-11-24T10:00:00Z", false)]
    [InlineData("2026-11-24T09:59:00Z", false)] // a day less a minute after
    [InlineData("2026-11-24T10:01:00Z", true)]
    [InlineData("1970-01-01T00:00:00Z", true)]
    [InlineData("0001-01-01T00:00:00Z", true)]
    [InlineData("9999-12-31T23:59:59.9999999Z", true)]
    public void GivenAnOccurrenceTime_WhenOutsideThePlausibleWindow_ThenIncompatibleDataWithoutTheTime(string time, bool refused)
    {
        var result = new Normalizer(ReadingsMapping).Normalize(Message(Reading(time)));

        Assert.Equal(refused, !result.IsSuccess);
        if (refused)
        {
            var error = Assert.Single(result.Errors);
            Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
            Assert.Contains("occurrence time is implausible", error.Message);
            Assert.DoesNotContain(time[..4], error.Message);
        }
    }

    [Fact]
    public void GivenAWiderWindowOrNoIngestionTime_WhenNormalized_ThenOnlyTheEndsOfDateTimeAreRefused()
    {
        var wide = new Normalizer(ReadingsMapping, new NormalizationLimits { PlausiblePast = TimeSpan.FromDays(365 * 100) });
        var normalizer = new Normalizer(ReadingsMapping);

        Assert.True(wide.Normalize(Message(Reading("1950-05-01T00:00:00Z"))).IsSuccess);
        Assert.True(normalizer.Normalize(EnvelopeOf(Reading("1950-05-01T00:00:00Z")), null).IsSuccess);
        Assert.Equal(ErrorCodes.IncompatibleData, Assert.Single(normalizer.Normalize(EnvelopeOf(Reading("0001-01-01T00:00:00Z")), null).Errors).Code);
        Assert.Equal(ErrorCodes.IncompatibleData, Assert.Single(normalizer.Normalize(EnvelopeOf(Reading("9999-12-31T00:00:00Z")), null).Errors).Code);
    }

    [Fact]
    public void GivenExtremeIngestionTimesAndWindows_WhenNormalized_ThenNothingOverflows()
    {
        var widest = new NormalizationLimits { PlausiblePast = TimeSpan.MaxValue, PlausibleFuture = TimeSpan.MaxValue };

        foreach (var ingested in new[] { DateTime.MinValue, DateTime.MaxValue })
        {
            foreach (var limits in new[] { new NormalizationLimits(), widest })
            {
                var result = new Normalizer(ReadingsMapping, limits).Normalize(new DeviceMessage(Corpus.Utf8(Reading("2026-11-23T09:00:00Z")), ingested));
                Assert.True(result.IsSuccess || result.Errors.All(e => e.Code == ErrorCodes.IncompatibleData));
            }
        }
    }

    [Theory]
    [InlineData("9999-12-31T23:00:00-05:00")] // the offset pushes it past DateTime.MaxValue
    [InlineData("0001-01-01T00:00:00+05:00")] // and before DateTime.MinValue
    [InlineData("10000-01-01T00:00:00Z")]
    public void GivenATimestampBeyondDateTime_WhenNormalized_ThenIncompatibleData(string time)
    {
        Assert.Equal(ErrorCodes.IncompatibleData, Assert.Single(new Normalizer(ReadingsMapping).Normalize(Message(Reading(time))).Errors).Code);
    }

    [Theory]
    [InlineData("fromUnixTimestamp(`253402300800`)")] // year 10000
    [InlineData("fromUnixTimestamp(`-62135596801`)")] // before year 1
    [InlineData("fromUnixTimestampMs(`9223372036854775807`)")]
    [InlineData("fromUnixTimestamp(`123456789012345678901234567890`)")]
    [InlineData("fromUnixTimestamp(`0`)")] // 1970: a clock never set
    [InlineData("fromUnixTimestamp(`-62135596800`)")] // year 1 itself
    public void GivenAUnixTimestampOutsideTheDates_WhenNormalized_ThenIncompatibleData(string timestamp)
    {
        var mapping = MappingOf("$..[?(@hr)]", "$.matchedToken.device", timestamp, language: "JmesPath");

        var error = Assert.Single(new Normalizer(mapping).Normalize(Message(Reading("2026-11-23T09:00:00Z"))).Errors);

        Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
    }

    [Fact]
    public void GivenMoreMeasurementsThanTheCap_WhenNormalized_ThenIncompatibleDataFirstAndExactlyTheCapPasses()
    {
        var normalizer = new Normalizer(ReadingsMapping, new NormalizationLimits { MaxMeasurementsPerMessage = 10 });
        var reading = (int i) => $$"""{"device": "d", "time": "2026-11-23T09:00:{{i:00}}Z", "hr": {{i}}}""";

        var over = normalizer.Normalize(Message(Readings(11, reading)));
        var at = normalizer.Normalize(Message(Readings(10, reading)));

        Assert.Equal(ErrorCodes.IncompatibleData, over.Errors[0].Code);
        Assert.Contains("MaxMeasurementsPerMessage", over.Errors[0].Message);
        Assert.Equal(10, at.Measurements.Count);
        Assert.True(at.IsSuccess);
    }

    [Fact]
    public void GivenAnArrayOfBadReadings_WhenNormalized_ThenTheErrorsStopAtTheirCap()
    {
        var result = new Normalizer(ReadingsMapping).Normalize(Message(Readings(50_000, i => $$"""{"hr": {{i}}}""")));

        Assert.Equal(MessageContext.MaxErrors + 1, result.Errors.Count);
        Assert.All(result.Errors, e => Assert.Equal(ErrorCodes.IncompatibleData, e.Code));
        Assert.Contains("stopped after", result.Errors[0].Message);
    }

    [Theory]
    [InlineData("device", 300_000)]
    [InlineData("patient", 300_000)]
    [InlineData("device", 513)]
    public void GivenAnIdOverTheCap_WhenNormalized_ThenIncompatibleDataWithoutTheId(string field, int length)
    {
        var id = new string('x', length);
        var body = field == "device"
            ? $$"""{"hr": 1, "device": "{{id}}", "time": "2026-11-23T09:00:00Z"}"""
            : $$"""{"hr": 1, "device": "d", "patient": "{{id}}", "time": "2026-11-23T09:00:00Z"}""";

        var error = Assert.Single(new Normalizer(ReadingsMapping).Normalize(Message(body)).Errors);

        Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
        Assert.Contains($"[{field}IdExpression] is {length} characters long", error.Message);
        Assert.DoesNotContain("xxx", error.Message);
    }

    [Fact]
    public void GivenIdsAndValuesExactlyAtTheirCaps_WhenNormalized_ThenKeptWhole()
    {
        var id = new string('i', 512);
        var value = new string('7', 32_768);

        var m = Assert.Single(new Normalizer(ReadingsMapping).Normalize(Message($$"""{"hr": "{{value}}", "device": "{{id}}", "patient": "{{id}}", "time": "2026-11-23T09:00:00Z"}""")).Measurements);

        Assert.Equal((id, id, value), (m.DeviceId, m.PatientId, m.Properties[0].Value));
    }

    [Fact]
    public void GivenInvalidLimits_WhenValidatedOrUsed_ThenEveryKeyAtFaultIsNamed()
    {
        var limits = new NormalizationLimits { MaxTimePerMessage = TimeSpan.Zero, PlausibleFuture = TimeSpan.FromDays(-1), MaxValueLength = 0 };

        var errors = limits.Validate("Gateway:Normalization");

        Assert.Equal(4, errors.Count);
        Assert.Contains(errors, e => e.Contains("Gateway:Normalization:MaxTimePerMessage", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Normalization:PlausibleFuture", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Gateway:Normalization:MaxValueLength", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new Normalizer(ReadingsMapping, limits));
        Assert.Empty(new NormalizationLimits().Validate("x"));
    }

    internal static DeviceMapping MappingOf(string typeMatch, string device, string time, string? patient = null, string language = "JsonPath")
    {
        var patientLine = patient is null ? "" : $"\"patientIdExpression\": \"{patient}\",";
        var value = language == "JmesPath" ? "matchedToken.hr" : "$.matchedToken.hr";
        return DeviceMapping.Parse($$"""
            { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
                "typeName": "heartrate", "typeMatchExpression": { "value": "{{typeMatch}}", "language": "JsonPath" },
                "deviceIdExpression": { "value": "{{device}}", "language": "JsonPath" }, {{patientLine}}
                "timestampExpression": { "value": "{{time}}", "language": "{{language}}" },
                "values": [ { "valueName": "hr", "valueExpression": { "value": "{{value}}", "language": "{{language}}" }, "required": true } ] } } ] }
            """).EnsureValid("test");
    }

    internal static string Reading(string time) => $$"""{"hr": 60, "device": "d", "patient": "p", "time": "{{time}}"}""";

    internal static string Readings(int count, Func<int, string> reading)
    {
        var json = new StringBuilder("{\"readings\": [");
        for (var i = 0; i < count; i++)
        {
            json.Append(i == 0 ? "" : ",").Append(reading(i));
        }

        return json.Append("]}").ToString();
    }

    internal static DeviceMessage Message(string body) => new(Encoding.UTF8.GetBytes(body), Corpus.Ingested);

    private static Newtonsoft.Json.Linq.JObject EnvelopeOf(string body) =>
        Envelope.Create(Envelope.ParseText(body), new Dictionary<string, string>(), new Dictionary<string, string>());
}
