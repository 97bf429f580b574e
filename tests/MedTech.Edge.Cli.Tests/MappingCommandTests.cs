using System.Diagnostics;
using System.Text.Json;

namespace MedTech.Edge.Cli.Tests;

public sealed class MappingCommandTests : IDisposable
{
    private static readonly string Reference = Testing.ReferenceDirectory.Locate();
    private static readonly string Samples = Path.Combine(Reference, "azure-health-data-and-ai-samples", "samples", "medtech-service-mappings");
    private static readonly string Extracts = Path.Combine(Reference, "azure-health-data-and-ai-samples", "readme-extracts");
    private static readonly string TestInput = Path.Combine(Reference, "iomt-fhir", "test", "Microsoft.Health.Fhir.Ingest.Template.UnitTests", "TestInput");

    private readonly string temp = Directory.CreateTempSubdirectory("medtech-cli-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void GivenValidMapping_WhenValidated_ThenExitZeroAndTheTemplatesAreListed()
    {
        var (exit, output, _) = Run("mapping", "validate", "--device-mapping", Path.Combine(Reference, "bench", "device-mapping-calculated-jmespath.json"));

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
            "--device-mapping", Path.Combine(Samples, "iotjsonpathcontent", "single-device-message-into-multiple-resources", "deviceMapping.json"),
            "--message", Path.Combine(Extracts, "iotjsonpathcontent", "single-device-message-into-multiple-resources", "eventhub-message-as-routed-by-iothub.json"));

        Assert.Equal(0, exit);
        using var actual = JsonDocument.Parse(output);
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Extracts, "iotjsonpathcontent", "single-device-message-into-multiple-resources", "expected-normalized.json")));
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
            "--device-mapping", Path.Combine(Samples, "calculatedcontent", "single-fhir-observation", "device-mapping.json"), "--message", message);

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
        var message = Path.Combine(Samples, "calculatedcontent", "single-fhir-observation", "test-device-message.json");

        Assert.Equal(2, Run("mapping", "test", "--device-mapping", Path.Combine(TestInput, "data_InvalidJson.txt"), "--message", message).Exit);
        Assert.Equal(2, Run("mapping", "test", "--device-mapping", Path.Combine(temp, "missing.json"), "--message", message).Exit);
        Assert.Equal(2, Run("mapping", "test", "--device-mapping", Path.Combine(Reference, "bench", "device-mapping-jsonpathcontent.json")).Exit);
        Assert.Equal(2, Run("mapping", "frobnicate").Exit);
    }

    [Fact]
    public void GivenTheBuiltExecutable_WhenRunAsAProcess_ThenStdoutIsTheJsonAndTheExitCodeIsKept()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "medtech.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { dll, "mapping", "test",
            "--device-mapping", Path.Combine(Samples, "calculatedcontent", "conversions-using-functions", "deviceMapping.json"),
            "--message", Path.Combine(Samples, "calculatedcontent", "conversions-using-functions", "testMessageB.json") })
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

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = MedTechCommand.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }
}
