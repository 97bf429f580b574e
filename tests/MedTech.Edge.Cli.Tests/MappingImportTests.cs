using System.Text.Json.Nodes;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// <c>medtech mapping import</c> on templates modelled on the documented resource shape (Microsoft.HealthcareApis
/// 2022-06-01: <c>workspaces/iotconnectors</c> with <c>properties.deviceMapping.content</c>, its child
/// <c>fhirdestinations</c> with <c>properties.fhirMapping.content</c>): the portal's export (mappings inline, names as
/// ARM expressions) and Bicep built to JSON (symbolic resources, mappings as object parameters).
/// </summary>
public sealed class MappingImportTests : IDisposable
{
    private static readonly string Fixtures = Testing.Repository.PathOf("tests", "MedTech.Edge.Cli.Tests", "Import");
    private readonly string temp = Directory.CreateTempSubdirectory("medtech-import-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Theory]
    [InlineData("portal-export.json", "resources", 2, "resources", 3)]
    [InlineData("bicep-built.json", "parameters", "deviceMapping", "parameters", "destinationMapping")]
    public void GivenAnExportedMedTechService_WhenImported_ThenBothMappingsAreWrittenAsTheyWereAndValidateAndExitIs0(string fixture, string deviceIn, object deviceAt, string fhirIn, object fhirAt)
    {
        var out_ = Path.Combine(temp, "mappings");

        var (exit, output, error) = Run("mapping", "import", "--from", Path.Combine(Fixtures, fixture), "--out", out_);

        Assert.True(exit == 0, output + error);
        var template = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, fixture)))!;
        JsonNode Expected(string section, object at, string kind) => at is int index
            ? template[section]![index]!["properties"]![kind]!["content"]!
            : template[section]![(string)at]!["defaultValue"]!;
        Assert.True(JsonNode.DeepEquals(Expected(deviceIn, deviceAt, "deviceMapping"), JsonNode.Parse(File.ReadAllText(Path.Combine(out_, "devicecontent.json")))));
        Assert.True(JsonNode.DeepEquals(Expected(fhirIn, fhirAt, "fhirMapping"), JsonNode.Parse(File.ReadAllText(Path.Combine(out_, "fhirmapping.json")))));
        Assert.Contains("valid device mapping", output);
        Assert.Contains("valid FHIR mapping", output);

        // What was imported works with the rest of the tool as it is.
        Assert.Equal(0, Run("mapping", "validate", "--device-mapping", Path.Combine(out_, "devicecontent.json"), "--fhir-mapping", Path.Combine(out_, "fhirmapping.json")).Exit);
    }

    [Fact]
    public void GivenMappingsStoredAsJsonStrings_WhenImported_ThenTheyAreParsed()
    {
        var template = Portal();
        var expected = template["resources"]![3]!["properties"]!["fhirMapping"]!["content"]!.DeepClone();
        foreach (var (index, kind) in new[] { (2, "deviceMapping"), (3, "fhirMapping") })
        {
            var mapping = template["resources"]![index]!["properties"]![kind]!;
            mapping["content"] = mapping["content"]!.ToJsonString();
        }

        var (exit, output, error) = Import(template);

        Assert.True(exit == 0, output + error);
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(File.ReadAllText(Path.Combine(temp, "out", "fhirmapping.json")))));
    }

    [Fact]
    public void GivenTwoMedTechServices_WhenImportedWithoutAName_ThenExit2NamesBothAndWithANameThatOneIsTaken()
    {
        var template = Portal();
        var resources = template["resources"]!.AsArray();
        var second = resources[2]!.DeepClone();
        second["name"] = "[concat(parameters('workspaces_ward_name'), '/medtech-nicu')]";
        second["properties"]!["deviceMapping"]!["content"]!["template"]!.AsArray().RemoveAt(0);
        var secondDestination = resources[3]!.DeepClone();
        secondDestination["name"] = "[concat(parameters('workspaces_ward_name'), '/medtech-nicu/fhir-destination')]";
        resources.Add(second);
        resources.Add(secondDestination);

        var (exit, _, error) = Import(template);
        Assert.Equal(2, exit);
        Assert.Contains("medtech-icu", error);
        Assert.Contains("medtech-nicu", error);
        Assert.Contains("--name", error);
        Assert.False(File.Exists(Path.Combine(temp, "out", "devicecontent.json")));

        (exit, var output, error) = Import(template, "--name", "medtech-nicu");
        Assert.True(exit == 0, output + error);
        Assert.True(JsonNode.DeepEquals(second["properties"]!["deviceMapping"]!["content"], JsonNode.Parse(File.ReadAllText(Path.Combine(temp, "out", "devicecontent.json")))));
    }

    [Fact]
    public void GivenAnExportWithoutItsFhirDestination_WhenImported_ThenExit2SaysWhatIsMissingAndNothingIsWritten()
    {
        var template = Portal();
        template["resources"]!.AsArray().RemoveAt(3);

        var (exit, _, error) = Import(template);

        Assert.Equal(2, exit);
        Assert.Contains("no fhirMapping.content", error);
        Assert.False(Directory.Exists(Path.Combine(temp, "out")));
    }

    [Fact]
    public void GivenAMappingParameterWithoutADefault_WhenImported_ThenExit2NamesTheParameter()
    {
        var template = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "bicep-built.json")))!;
        template["parameters"]!["destinationMapping"]!.AsObject().Remove("defaultValue");

        var (exit, _, error) = Import(template);

        Assert.Equal(2, exit);
        Assert.Contains("'destinationMapping', which has no defaultValue", error);
    }

    [Fact]
    public void GivenAnInvalidMappingInTheExport_WhenImported_ThenItIsWrittenForEditingAndExit1ReportsTheErrorWithItsLine()
    {
        var template = Portal();
        template["resources"]![2]!["properties"]!["deviceMapping"]!["content"]!["template"]![0]!["template"]!.AsObject().Remove("typeMatchExpression");

        var (exit, output, _) = Import(template);

        Assert.Equal(1, exit);
        Assert.Matches(@"devicecontent\.json:\d+:\d+: error: template\[0\]: Required member 'typeMatchExpression'", output);
        Assert.True(File.Exists(Path.Combine(temp, "out", "devicecontent.json")));
    }

    [Fact]
    public void GivenAFolderThatAlreadyHasMappings_WhenImported_ThenExit2UnlessForced()
    {
        Directory.CreateDirectory(Path.Combine(temp, "out"));
        File.WriteAllText(Path.Combine(temp, "out", "fhirmapping.json"), "{\"mine\": true}");

        Assert.Equal(2, Import(Portal()).Exit);
        Assert.Equal("{\"mine\": true}", File.ReadAllText(Path.Combine(temp, "out", "fhirmapping.json")));
        Assert.Equal(0, Import(Portal(), "--force").Exit);
        Assert.Contains("CollectionFhir", File.ReadAllText(Path.Combine(temp, "out", "fhirmapping.json")));
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("")]
    [InlineData("{\"resources\": [{\"type\": \"x\", \"name\": \"a\u0000b\", \"properties\": {\"deviceMapping\": {\"content\": 42}}}]}")]
    [InlineData("{\"resources\": [{\"type\": \"x\", \"name\": \"a\", \"properties\": {\"deviceMapping\": {\"content\": \"[concat('{', '}')]\"}, \"fhirMapping\": {\"content\": {}}}}]}")]
    public void GivenSomethingThatIsNotAUsableExport_WhenImported_ThenExit2WithAReasonAndNoCrash(string text)
    {
        var path = Path.Combine(temp, "export.json");
        File.WriteAllText(path, text);

        var (exit, _, error) = Run("mapping", "import", "--from", path, "--out", Path.Combine(temp, "out"));

        Assert.Equal(2, exit);
        Assert.StartsWith(path, error);
    }

    [Fact]
    public void GivenATemplateNestedDeeperThanJsonAllows_WhenImported_ThenExit2()
    {
        var path = Path.Combine(temp, "deep.json");
        File.WriteAllText(path, new string('[', 100_000) + new string(']', 100_000));

        var (exit, _, error) = Run("mapping", "import", "--from", path, "--out", Path.Combine(temp, "out"));

        Assert.Equal(2, exit);
        Assert.Contains("cannot read the template", error);
    }

    private static JsonNode Portal() => JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "portal-export.json")))!;

    private (int Exit, string Output, string Error) Import(JsonNode template, params string[] more)
    {
        var path = Path.Combine(temp, $"export-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, template.ToJsonString());
        return Run(["mapping", "import", "--from", path, "--out", Path.Combine(temp, "out"), .. more]);
    }
}
