using System.Diagnostics;
using System.Text.Json;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

public sealed class MappingCommandTests : IDisposable
{
    private static readonly string Cases = Testing.Repository.PathOf("tests", "Conformance", "cases");
    private static readonly string TestInput = Testing.Repository.PathOf("tests", "Conformance", "templates", "template-tests");
    private static readonly string Validation = Testing.Repository.PathOf("tests", "Conformance", "templates", "validation-tests");
    private static readonly string Bench = Testing.Repository.PathOf("tests", "MedTech.Edge.Benchmarks", "Inputs");

    private readonly string temp = Directory.CreateTempSubdirectory("medtech-cli-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void GivenValidMapping_WhenValidated_ThenExitZeroAndTheTemplatesAreListed()
    {
        var (exit, output, _) = Run("mapping", "validate", "--device-mapping", Path.Combine(Bench, "device-mapping-calculated-jmespath.json"));

        Assert.Equal(0, exit);
        Assert.Contains("valid device mapping, 5 template(s)", output);
    }

    [Fact]
    public void GivenInvalidMapping_WhenValidated_ThenExitOneAndEveryErrorHasFileLineAndPosition()
    {
        var file = Path.Combine(TestInput, "data_CollectionContentTemplateMixedValidity.json");

        var (exit, output, _) = Run("mapping", "validate", "--device-mapping", file);

        Assert.Equal(1, exit);
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(file)}:41:19: error: template\[2\]: Required member 'typeMatchExpression'", output);
    }

    [Fact]
    public void GivenEnvelopeMessage_WhenTested_ThenNormalizedMatchesTheDocumentedDebuggerOutput()
    {
        var (exit, output, _) = Run("mapping", "test",
            "--device-mapping", Path.Combine(Cases, "sample-iothub-single-message-into-multiple-resources", "device-mapping.json"),
            "--message", Path.Combine(Cases, "sample-iothub-single-message-into-multiple-resources", "message.json"));

        Assert.Equal(0, exit);
        using var actual = JsonDocument.Parse(output);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Cases, "sample-iothub-single-message-into-multiple-resources", "expected-normalized.json")));
        var normalized = actual.RootElement.GetProperty("normalized");
        Assert.Equal(expected.RootElement.GetArrayLength(), normalized.GetArrayLength());
        foreach (var (want, got) in expected.RootElement.EnumerateArray().Zip(normalized.EnumerateArray()))
        {
            foreach (var field in new[] { "type", "occurrenceTimeUtc", "deviceId", "patientId" })
            {
                Assert.Equal(want.GetProperty(field).GetString(), got.GetProperty(field).GetString());
            }

            Assert.Equal(JsonValueKind.Null, got.GetProperty("correlationId").ValueKind);
            Assert.Equal(want.GetProperty("properties").GetRawText().Replace(" ", "").Replace("\n", "").Replace("\r", ""),
                got.GetProperty("properties").GetRawText().Replace(" ", "").Replace("\n", "").Replace("\r", ""));
        }

        Assert.Equal(0, actual.RootElement.GetProperty("errors").GetArrayLength());
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 1)]
    public void GivenEnvelopeFile_WhenTestedWithOrWithoutRaw_ThenRawWrapsItAsAPayload(bool raw, int expectedExit)
    {
        var mapping = Path.Combine(temp, "mapping.json");
        File.WriteAllText(mapping, """
            {"templateType":"CollectionContent","template":[{"templateType":"CalculatedContent","template":{
              "typeName":"hr","typeMatchExpression":"$.Body","deviceIdExpression":"$.Body.device","timestampExpression":"$.Body.time",
              "values":[{"valueName":"hr","valueExpression":"$.Body.hr","required":true}]}}]}
            """);
        var message = Path.Combine(temp, "envelope.json");
        File.WriteAllText(message, """{"Body":{"hr":60,"device":"d1","time":"2024-01-01T00:00:00Z"},"Properties":{}}""");

        var (exit, output, _) = Run([.. new[] { "mapping", "test", "--device-mapping", mapping, "--message", message }, .. raw ? new[] { "--raw" } : []]);

        Assert.Equal(expectedExit, exit);
        using var result = JsonDocument.Parse(output);
        Assert.Equal(raw ? 0 : 1, result.RootElement.GetProperty("normalized").GetArrayLength());
    }

    [Fact]
    public void GivenMessageThatFails_WhenTested_ThenExitOneWithCodeMessageAndTemplate()
    {
        var message = Path.Combine(temp, "bad.json");
        File.WriteAllText(message, """{"heartRate": "78", "deviceId": "device01"}""");

        var (exit, output, _) = Run("mapping", "test",
            "--device-mapping", Path.Combine(Cases, "sample-calculated-single-fhir-observation", "device-mapping.json"), "--message", message);

        Assert.Equal(1, exit);
        using var result = JsonDocument.Parse(output);
        var error = result.RootElement.GetProperty("errors")[0];
        Assert.Equal("IncompatibleDataException", error.GetProperty("code").GetString());
        Assert.Contains("[timestampExpression]", error.GetProperty("message").GetString());
        Assert.Equal(0, error.GetProperty("templateIndex").GetInt32());
        Assert.Equal("heartrate", error.GetProperty("typeName").GetString());
    }

    [Fact]
    public void GivenInvalidMappingOrMissingFile_WhenTested_ThenExitTwo()
    {
        var message = Path.Combine(Cases, "sample-calculated-single-fhir-observation", "message.json");

        Assert.Equal(2, Run("mapping", "test", "--device-mapping", Path.Combine(TestInput, "data_InvalidJson.txt"), "--message", message).Exit);
        Assert.Equal(2, Run("mapping", "test", "--device-mapping", Path.Combine(temp, "missing.json"), "--message", message).Exit);
        Assert.Equal(2, Run("mapping", "test", "--device-mapping", Path.Combine(Bench, "device-mapping-jsonpathcontent.json")).Exit);
        Assert.Equal(2, Run("mapping", "frobnicate").Exit);
    }

    [Fact]
    public void GivenTheBuiltExecutable_WhenRunAsAProcess_ThenStdoutIsTheJsonAndTheExitCodeIsKept()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "medtech.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { dll, "mapping", "test",
            "--device-mapping", Path.Combine(Cases, "sample-calculated-conversions-using-functions", "device-mapping.json"),
            "--message", Path.Combine(Cases, "sample-calculated-conversions-using-functions", "message-device-b.json") })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();

        Assert.Equal(0, process.ExitCode);
        using var result = JsonDocument.Parse(stdout);
        Assert.Equal(3, result.RootElement.GetProperty("normalized").GetArrayLength());
    }

    [Fact]
    public void GivenDeviceAndFhirMappings_WhenTested_ThenObservationsAreBuiltAsCreateModeWouldBuildThem()
    {
        var basic = Path.Combine(Cases, "sample-basic");
        var message = Path.Combine(temp, "hr.json");
        File.WriteAllText(message, """{"heartrate": 78, "deviceid": "device1", "patientid": "patient1", "measurementdatetime": "2019-02-01T22:46:01.875Z"}""");

        var (exit, output, _) = Run("mapping", "test", "--device-mapping", Path.Combine(basic, "device-mapping.json"),
            "--fhir-mapping", Path.Combine(basic, "fhir-mapping.json"), "--message", message);

        Assert.Equal(0, exit);
        using var result = JsonDocument.Parse(output);
        var observation = Assert.Single(result.RootElement.GetProperty("observations").EnumerateArray());
        var patient = Sha256("_patient1");
        var device = Sha256("_device1");
        var identifier = $"{patient}.{device}.heartrate.20190201220000Z.20190201225959Z";
        Assert.Equal(identifier, observation.GetProperty("identifier")[0].GetProperty("value").GetString());
        Assert.Equal(Sha256("https://azure.microsoft.com/en-us/services/iomt-fhir-connector/_" + identifier), observation.GetProperty("id").GetString());
        Assert.Equal($"Patient/{patient}", observation.GetProperty("subject").GetProperty("reference").GetString());
        Assert.Equal("2019-02-01T22:00:00.0000000Z", observation.GetProperty("effectivePeriod").GetProperty("start").GetString());
        Assert.Equal(3600, observation.GetProperty("valueSampledData").GetProperty("data").GetString()!.Split(' ').Length);
    }

    [Fact]
    public void GivenAMessageTypeTheFhirMappingLacks_WhenTested_ThenExitOneWithTemplateNotFound()
    {
        var basic = Path.Combine(Cases, "sample-basic");
        var fhir = Path.Combine(temp, "fhir.json");
        File.WriteAllText(fhir, """{"templateType": "CollectionFhir", "template": []}""");
        var message = Path.Combine(temp, "hr.json");
        File.WriteAllText(message, """{"heartrate": 78, "deviceid": "device1", "patientid": "patient1", "measurementdatetime": "2019-02-01T22:46:01Z"}""");

        var (exit, output, _) = Run("mapping", "test", "--device-mapping", Path.Combine(basic, "device-mapping.json"), "--fhir-mapping", fhir, "--message", message);

        Assert.Equal(1, exit);
        using var result = JsonDocument.Parse(output);
        Assert.Equal("TemplateNotFoundException", result.RootElement.GetProperty("errors")[0].GetProperty("code").GetString());
    }

    [Fact]
    public void GivenMappingsThatDoNotFit_WhenValidatedTogether_ThenExitZeroWithAWarningForEachGap()
    {
        var device = Path.Combine(Validation, "data_CollectionContentTemplateHrAndBloodPressureValid.json");

        var (exitType, outputType, _) = Run("mapping", "validate", "--device-mapping", device,
            "--fhir-mapping", Path.Combine(Validation, "data_CollectionFhirTemplateMissingTypeInvalid.json"));
        var (exitValue, outputValue, _) = Run("mapping", "validate", "--device-mapping", device,
            "--fhir-mapping", Path.Combine(Validation, "data_CollectionFhirTemplateIncorrectValueNameInvalid.json"));

        Assert.Equal((0, 0), (exitType, exitValue));
        Assert.Contains($"{device}: warning: template[1]: Type 'bloodpressure' has no CodeValueFhir template", outputType);
        Assert.Contains("warning: template[1]: Value 'systolicBadValueName' of type 'bloodpressure' is produced by no device template", outputValue);
    }

    [Fact]
    public void GivenAnInvalidFhirMapping_WhenValidated_ThenExitOneWithFileLineAndPosition()
    {
        var file = Path.Combine(TestInput, "data_CollectionFhirTemplateInvalid.json");

        var (exit, output, _) = Run("mapping", "validate", "--fhir-mapping", file);

        Assert.Equal(1, exit);
        Assert.Contains($"{file}:6:19: error: template[0]: Required member 'typeName' is missing", output);
    }

    private static string Sha256(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
}
