using System.Globalization;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>
/// The conformance corpus (tests/Conformance) through the normalizer. Expected outputs are either the documented
/// ones (the MedTech Mapping-debugger output copied from the Azure samples' READMEs) or written by hand from the
/// payload and the upstream tests' assertions (tests/Conformance/NOTICE.md says which is which).
/// </summary>
public class ConformanceTests
{
    public static TheoryData<string, string, string> Examples()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (@case, message, expected) in Corpus.Examples())
        {
            data.Add(@case, message, expected);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void GivenCorpusCase_WhenNormalized_ThenMatchesItsExpectedOutput(string @case, string message, string expected)
    {
        var result = Corpus.Normalize(Corpus.Mapping(Corpus.Case(@case, "device-mapping.json")), message);

        Assert.Empty(result.Errors);
        var documented = (JArray)Envelope.ParseText(Corpus.Text(expected))!;
        Assert.Equal(documented.Count, result.Measurements.Count);
        for (var i = 0; i < documented.Count; i++)
        {
            var want = documented[i];
            var got = result.Measurements[i];
            Assert.Equal((string?)want["type"], got.Type);
            Assert.Equal(DateTime.Parse((string)want["occurrenceTimeUtc"]!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal), got.OccurrenceTimeUtc);
            Assert.Equal(DateTimeKind.Utc, got.OccurrenceTimeUtc.Kind);
            Assert.Equal((string?)want["deviceId"], got.DeviceId);
            Assert.Equal((string?)want["patientId"], got.PatientId);
            Assert.Equal((string?)want["encounterId"], got.EncounterId);
            Assert.Equal((string?)want["correlationId"], got.CorrelationId);
            Assert.Equal(
                want["properties"]!.Select(p => ((string?)p["name"], (string?)p["value"])),
                got.Properties.Select(p => ((string?)p.Name, (string?)p.Value)));
        }
    }

    public static TheoryData<string, string, string> FailureExamples()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (@case, message, expected) in Corpus.Failures())
        {
            data.Add(@case, message, expected);
        }

        return data;
    }

    /// <summary>
    /// The corpus messages that must fail (the parity-* cases: see tests/Conformance/NOTICE.md for upstream's outcome
    /// and why ours is what it is): no measurement, and the reason code, which the pipeline dead-letters the message with.
    /// </summary>
    [Theory]
    [MemberData(nameof(FailureExamples))]
    public void GivenCorpusCaseThatMustFail_WhenNormalized_ThenNoMeasurementAndItsExpectedReasonCode(string @case, string message, string expected)
    {
        var result = Corpus.Normalize(Corpus.Mapping(Corpus.Case(@case, "device-mapping.json")), message);

        var want = (JObject)Envelope.ParseText(Corpus.Text(expected))!;
        Assert.Empty(result.Measurements);
        Assert.False(result.IsSuccess);
        Assert.Equal((string?)want["code"], result.Errors[0].Code);
        if ((string?)want["messageNames"] is { } names)
        {
            Assert.Contains(names, result.Errors[0].Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void GivenTheCorpus_WhenListed_ThenEveryExpectedOutputHasItsMessageAndEveryCaseItsMapping()
    {
        // A renamed message would silently drop its case from the theory above.
        Assert.All(Corpus.Examples().Concat(Corpus.Failures()), e => Assert.True(File.Exists(Corpus.PathOf(e.Message)), e.Message));
        Assert.True(Corpus.Failures().Count() >= 6);
        Assert.All(Directory.GetDirectories(Corpus.PathOf("cases")), d => Assert.True(File.Exists(Path.Combine(d, "device-mapping.json")), d));
        Assert.True(Corpus.Examples().Count() >= 15);
    }

    [Fact]
    public void GivenIotCentralBatch_WhenNormalized_ThenSixMeasurementsWithExportDeviceAndTime()
    {
        var result = Corpus.Normalize(
            Corpus.Mapping(Corpus.Case("iotcentral-multiple-messages", "device-mapping.json")),
            Corpus.Case("iotcentral-multiple-messages", "message.json"));

        Assert.Empty(result.Errors);
        Assert.Equal(6, result.Measurements.Count);
        var first = result.Measurements[0];
        Assert.Equal(("heartrate", "1qsi9p8t5l2", "1qsi9p8t5l2"), (first.Type, first.DeviceId, first.PatientId));
        Assert.Equal(new DateTime(2021, 6, 8, 19, 45, 20, 202, DateTimeKind.Utc), first.OccurrenceTimeUtc);
        Assert.Equal("75", first.Properties.Single().Value);
    }

    [Fact]
    public void GivenSampleWhoseExpressionsMissTheEnvelope_WhenNormalized_ThenEachTemplateReportsAHelpfulError()
    {
        // This unmerged upstream sample reads "$.deviceid" from CalculatedContent, which runs against the envelope.
        var result = Corpus.Normalize(
            Corpus.Mapping(Corpus.Case("sample-calculated-multiple-fhir-observations", "device-mapping.json")),
            Corpus.Case("sample-calculated-multiple-fhir-observations", "message.json"));

        Assert.Empty(result.Measurements);
        Assert.Equal(4, result.Errors.Count);
        Assert.All(result.Errors, e => Assert.Equal(ErrorCodes.IncompatibleData, e.Code));
        Assert.Contains("did you mean $.matchedToken.deviceid or $.Body.deviceid?", result.Errors[0].Message);
    }

    [Theory]
    [InlineData("sample-iothub-single-fhir-observation")]
    [InlineData("sample-iothub-multiple-fhir-observations")]
    public void GivenIotSamplePayloadAlone_WhenNormalized_ThenErrorSaysToUseTheEnvelope(string @case)
    {
        var result = Corpus.Normalize(Corpus.Mapping(Corpus.Case(@case, "device-mapping.json")), Corpus.Case(@case, "message.json"));

        Assert.Empty(result.Measurements);
        Assert.NotEmpty(result.Errors);
        Assert.All(result.Errors, e => Assert.Equal(ErrorCodes.IncompatibleData, e.Code));
        Assert.Contains("test with the whole", result.Errors[0].Message);
    }

    [Fact]
    public void GivenBenchMessage_WhenNormalizedByTheThreeEquivalentMappings_ThenAllAgree()
    {
        var results = new[] { "device-mapping-calculated-jsonpath.json", "device-mapping-calculated-jmespath.json", "device-mapping-jsonpathcontent.json" }
            .Select(file => Corpus.Normalize(Corpus.Mapping(Corpus.Bench(file)), Corpus.Bench("message-bedside-monitor.json")))
            .ToList();

        var expected = results[0].Measurements.Select(Describe).ToList();
        Assert.Equal(5, expected.Count);
        Assert.Contains("bloodPressure|monitor-12|p-1|2026-11-23T10:00:00|systolic=120,diastolic=80", expected);
        Assert.Contains("temperature|monitor-12|p-1|2026-11-23T10:00:00|temperature=36.8", expected);
        Assert.All(results, r => Assert.Equal(expected, r.Measurements.Select(Describe)));
    }

    private static string Describe(Measurement m) =>
        $"{m.Type}|{m.DeviceId}|{m.PatientId}|{m.OccurrenceTimeUtc:yyyy-MM-ddTHH:mm:ss}|{string.Join(",", m.Properties.Select(p => $"{p.Name}={p.Value}"))}";
}
