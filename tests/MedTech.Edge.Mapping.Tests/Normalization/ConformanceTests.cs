using System.Globalization;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>
/// The reference corpus through the normalizer. Expected outputs are either the documented ones (the MedTech
/// Mapping-debugger output copied from the Azure samples' READMEs) or read off the payload by hand.
/// </summary>
public class ConformanceTests
{
    [Theory]
    [InlineData("calculatedcontent/conversions-using-functions/deviceMapping.json", "calculatedcontent/conversions-using-functions/testMessageA.json", "calculatedcontent/conversions-using-functions/expected-normalized-deviceA.json")]
    [InlineData("calculatedcontent/conversions-using-functions/deviceMapping.json", "calculatedcontent/conversions-using-functions/testMessageB.json", "calculatedcontent/conversions-using-functions/expected-normalized-deviceB.json")]
    [InlineData("iotjsonpathcontent/single-device-message-into-multiple-resources/deviceMapping.json", null, "iotjsonpathcontent/single-device-message-into-multiple-resources/expected-normalized.json")]
    public void GivenAzureSample_WhenNormalized_ThenMatchesTheDocumentedDebuggerOutput(string mapping, string? message, string expected)
    {
        // The IoT Hub sample's message is the routed envelope from the README, not the raw payload.
        message = message is null
            ? $"{Reference.Extracts}/iotjsonpathcontent/single-device-message-into-multiple-resources/eventhub-message-as-routed-by-iothub.json"
            : $"{Reference.Samples}/{message}";

        var result = Reference.Normalize(Reference.Mapping($"{Reference.Samples}/{mapping}"), message);

        Assert.Empty(result.Errors);
        var documented = (JArray)Envelope.ParseText(Reference.Text($"{Reference.Extracts}/{expected}"))!;
        Assert.Equal(documented.Count, result.Measurements.Count);
        for (var i = 0; i < documented.Count; i++)
        {
            var want = documented[i];
            var got = result.Measurements[i];
            Assert.Equal((string?)want["type"], got.Type);
            Assert.Equal(DateTime.Parse((string)want["occurrenceTimeUtc"]!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal), got.OccurrenceTimeUtc);
            Assert.Equal((string?)want["deviceId"], got.DeviceId);
            Assert.Equal((string?)want["patientId"], got.PatientId);
            Assert.Equal((string?)want["encounterId"], got.EncounterId);
            Assert.Equal((string?)want["correlationId"], got.CorrelationId);
            Assert.Equal(
                want["properties"]!.Select(p => ((string?)p["name"], (string?)p["value"])),
                got.Properties.Select(p => ((string?)p.Name, (string?)p.Value)));
        }
    }

    [Fact]
    public void GivenDocumentationHeartRate_WhenNormalized_ThenOneMeasurementFromMatchedToken()
    {
        var result = Normalize("HeartRate_Template", "HeartRate_Payload");

        var m = Assert.Single(result.Measurements);
        Assert.Equal(("heartrate", "device123"), (m.Type, m.DeviceId));
        Assert.Equal(new DateTime(2019, 2, 1, 22, 46, 1, 875, DateTimeKind.Utc), m.OccurrenceTimeUtc);
        Assert.Equal([new MeasurementProperty("hr", "78")], m.Properties);
    }

    [Fact]
    public void GivenDocumentationBodyArray_WhenNormalized_ThenOneMeasurementPerElementInDocumentOrder()
    {
        var result = Normalize("HeartRate_Template", "MultipleMeasurements_FromArray_Payload");

        Assert.Equal(["78", "81", "72"], result.Measurements.Select(m => m.Properties.Single().Value));
        Assert.Equal([20, 21, 22], result.Measurements.Select(m => m.OccurrenceTimeUtc.Hour));
    }

    [Fact]
    public void GivenDocumentationBloodPressure_WhenNormalized_ThenBothValuesInTemplateOrder()
    {
        var m = Assert.Single(Normalize("BloodPressure_Template", "BloodPressure_Payload").Measurements);

        Assert.Equal([new("systolic", "123"), new MeasurementProperty("diastolic", "87")], m.Properties);
    }

    [Fact]
    public void GivenDocumentationMultipleTemplates_WhenNormalized_ThenEveryTemplateApplies()
    {
        var result = Normalize("MultipleMeasurements_Template", "MultipleMeasurements_Payload");

        Assert.Equal(["heartrate", "stepcount"], result.Measurements.Select(m => m.Type));
        Assert.Equal(["78", "2"], result.Measurements.Select(m => m.Properties.Single().Value));
    }

    [Fact]
    public void GivenDocumentationParentScope_WhenNormalized_ThenDeviceComesFromBodyAndValuesFromEachMatch()
    {
        var result = Normalize("MultipleMatches_Template", "MultipleMatches_Payload");

        Assert.All(result.Measurements, m => Assert.Equal("device123", m.DeviceId));
        Assert.Equal(["120", "122"], result.Measurements.Select(m => m.Properties[0].Value));
        Assert.Equal(new DateTime(2021, 7, 13, 17, 29, 1, DateTimeKind.Utc).AddTicks(611440), result.Measurements[0].OccurrenceTimeUtc);
    }

    [Fact]
    public void GivenDocumentationTransformData_WhenNormalized_ThenInchesConvertedAndMetersPassedThrough()
    {
        var result = Normalize("TransformData_Template", "TransformData_Payload");

        // 78 in × 0.0254 = 1.9812 m; the second template passes "1.9304" through unchanged.
        Assert.Equal([("heightInMeters", "1.9812"), ("heightInMeters", "1.9304")], result.Measurements.Select(m => (m.Type, m.Properties.Single().Value)));
    }

    [Fact]
    public void GivenIotCentralBatch_WhenNormalized_ThenSixMeasurementsWithExportDeviceAndTime()
    {
        var result = Reference.Normalize(
            Reference.Mapping($"{Reference.IomtTestInput}/data_CollectionContentTemplateMultipleIotCentralJsonPath.json"),
            $"{Reference.IomtTestInput}/data_IotCentralPayloadExampleMultipleMessages.json");

        Assert.Empty(result.Errors);
        Assert.Equal(6, result.Measurements.Count);
        var first = result.Measurements[0];
        Assert.Equal(("heartrate", "1qsi9p8t5l2", "1qsi9p8t5l2"), (first.Type, first.DeviceId, first.PatientId));
        Assert.Equal(new DateTime(2021, 6, 8, 19, 45, 20, 202, DateTimeKind.Utc), first.OccurrenceTimeUtc);
        Assert.Equal("75", first.Properties.Single().Value);
    }

    [Theory]
    [InlineData("data_IotHubPayloadExample.json", "2019-01-30T22:45:02.6073744Z")]
    [InlineData("data_IotHubPayloadExampleMissingCreateTime.json", "2019-02-01T22:46:01.875Z")]
    public void GivenIotHubMessage_WhenNormalized_ThenDeviceFromConnectionAndTimeFromCreationOrEnqueued(string payload, string expectedTime)
    {
        var mapping = Mapping.Templates.DeviceMapping.Parse("""
            { "templateType": "CollectionContent", "template": [ { "templateType": "IotJsonPathContent", "template": {
                "typeName": "heartrate", "typeMatchExpression": "$..[?(@Body.heartrate)]",
                "values": [ { "required": "true", "valueExpression": "$.Body.heartrate", "valueName": "hr" } ] } } ] }
            """).EnsureValid("inline IotJsonPathContent mapping");

        var m = Assert.Single(Reference.Normalize(mapping, $"{Reference.IomtTestInput}/{payload}").Measurements);

        Assert.Equal("ev-d795-1d04-55ae", m.DeviceId);
        Assert.Equal(DateTime.Parse(expectedTime, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal), m.OccurrenceTimeUtc);
        Assert.Equal("203", m.Properties.Single().Value);
    }

    [Fact]
    public void GivenSinglePayloadWithoutOffset_WhenNormalized_ThenTimeIsTakenAsUtc()
    {
        var result = Reference.Normalize(
            Reference.Mapping($"{Reference.Samples}/calculatedcontent/single-fhir-observation/device-mapping.json"),
            $"{Reference.Samples}/calculatedcontent/single-fhir-observation/test-device-message.json");

        var m = Assert.Single(result.Measurements);
        Assert.Equal(new DateTime(2023, 3, 13, 22, 46, 1, 875, DateTimeKind.Utc), m.OccurrenceTimeUtc);
        Assert.Equal(DateTimeKind.Utc, m.OccurrenceTimeUtc.Kind);
    }

    [Fact]
    public void GivenSampleWhoseExpressionsMissTheEnvelope_WhenNormalized_ThenEachTemplateReportsAHelpfulError()
    {
        // This unmerged upstream sample reads "$.deviceid" from CalculatedContent, which runs against the envelope.
        var result = Reference.Normalize(
            Reference.Mapping($"{Reference.Samples}/calculatedcontent/multiple-fhir-observations/device-mapping.json"),
            $"{Reference.Samples}/calculatedcontent/multiple-fhir-observations/test-device-message.json");

        Assert.Empty(result.Measurements);
        Assert.Equal(4, result.Errors.Count);
        Assert.All(result.Errors, e => Assert.Equal(ErrorCodes.IncompatibleData, e.Code));
        Assert.Contains("did you mean $.matchedToken.deviceid or $.Body.deviceid?", result.Errors[0].Message);
    }

    [Fact]
    public void GivenIotSamplePayloadAlone_WhenNormalized_ThenErrorSaysToUseTheEnvelope()
    {
        var result = Reference.Normalize(
            Reference.Mapping($"{Reference.Samples}/iotjsonpathcontent/single-fhir-observation/device-mapping.json"),
            $"{Reference.Samples}/iotjsonpathcontent/single-fhir-observation/test-device-message.json");

        var error = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.IncompatibleData, error.Code);
        Assert.Contains("test with the whole", error.Message);
    }

    [Fact]
    public void GivenBenchMessage_WhenNormalizedByTheThreeEquivalentMappings_ThenAllAgree()
    {
        var results = new[] { "device-mapping-calculated-jsonpath.json", "device-mapping-calculated-jmespath.json", "device-mapping-jsonpathcontent.json" }
            .Select(file => Reference.Normalize(Reference.Mapping($"bench/{file}"), "bench/message-bedside-monitor.json"))
            .ToList();

        var expected = results[0].Measurements.Select(Describe).ToList();
        Assert.Equal(5, expected.Count);
        Assert.Contains("bloodPressure|monitor-12|p-1|2026-11-23T10:00:00|systolic=120,diastolic=80", expected);
        Assert.Contains("temperature|monitor-12|p-1|2026-11-23T10:00:00|temperature=36.8", expected);
        Assert.All(results, r => Assert.Equal(expected, r.Measurements.Select(Describe)));
    }

    [Fact]
    public void GivenBasicSampleMapping_WhenTheReadmeMessagesAreNormalized_ThenEachYieldsItsType()
    {
        var mapping = Reference.Mapping("iomt-fhir/sample/templates/basic/devicecontent.json");
        var normalizer = new Normalizer(mapping);
        string[] messages =
        [
            """{"heartrate": "78", "measurementdatetime": "2020-03-13T22:46:01.8750000", "deviceid": "device01", "patientid": "patient01"}""",
            """{"steps": "2", "measurementdatetime": "2020-03-13T22:46:01.8750000", "deviceid": "device01", "patientid": "patient01"}""",
            """{"systolic": "120", "diastolic": "80", "measurementdatetime": "2020-03-13T22:46:01.8750000", "deviceid": "device01", "patientid": "patient01"}""",
        ];

        var types = messages.Select(m => normalizer.Normalize(new DeviceMessage(Reference.Utf8(m), Reference.Ingested)))
            .Select(r => string.Join(",", r.Measurements.Select(x => x.Type) .Concat(r.Errors.Select(e => e.Code))));

        Assert.Equal(["heartrate", "steps", "bloodpressure"], types);
    }

    private static string Describe(Measurement m) =>
        $"{m.Type}|{m.DeviceId}|{m.PatientId}|{m.OccurrenceTimeUtc:yyyy-MM-ddTHH:mm:ss}|{string.Join(",", m.Properties.Select(p => $"{p.Name}={p.Value}"))}";

    private static NormalizationResult Normalize(string template, string payload) => Reference.Normalize(
        Reference.Mapping($"{Reference.IomtTestInput}/data_Documentation_CalculatedFunction_{template}.json"),
        $"{Reference.IomtTestInput}/data_Documentation_CalculatedFunction_{payload}.json");
}
