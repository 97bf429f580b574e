using System.Text.Json.Nodes;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// Issue 21, <c>medtech mapping import</c> on odd but legitimate exports of the portal fixture
/// (Microsoft.HealthcareApis 2022-06-01 resource shape).
/// </summary>
public sealed class MappingImportArmTests : IDisposable
{
    private static readonly string Fixture = Testing.Repository.PathOf("tests", "MedTech.Edge.Cli.Tests", "Import", "portal-export.json");
    private readonly string temp = Directory.CreateTempSubdirectory("medtech-review21-import-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    // Was a review finding: ARM escapes a literal string that starts with '[' and ends with ']' as "[[...]" (else it is an expression), so an
    // export holds a JMESPath "[Body][?heartRate]" as "[[Body][?heartRate]"; import copies the escape into devicecontent.json.
    [Fact]
    public void GivenArmsBracketEscapeInAMappingExpression_WhenImported_ThenOneBracketIsStripped()
    {
        var template = JsonNode.Parse(File.ReadAllText(Fixture))!;
        var first = template["resources"]![2]!["properties"]!["deviceMapping"]!["content"]!["template"]![0]!["template"]!;
        first["typeMatchExpression"] = new JsonObject { ["value"] = "[[Body][?heartRate]", ["language"] = "JmesPath" };
        var from = Path.Combine(temp, "export.json");
        File.WriteAllText(from, template.ToJsonString());
        var outDir = Path.Combine(temp, "out");

        var (exit, output, error) = Run("mapping", "import", "--from", from, "--out", outDir);

        var imported = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "devicecontent.json")))!;
        Assert.Equal("[Body][?heartRate]", (string?)imported["template"]![0]!["template"]!["typeMatchExpression"]!["value"]);
        Assert.True(exit == 0, output + error);
    }

    // Was a review finding: an export holding one service's device mapping and another service's FHIR destination (a partial export) is
    // imported as one pair, exit 0, without a word: the FHIR mapping of another service goes live with this service's devices.
    [Fact]
    public void GivenAnotherServicesFhirDestination_WhenImported_ThenExitTwo()
    {
        var template = JsonNode.Parse(File.ReadAllText(Fixture))!;
        template["resources"]![3]!["name"] = "[concat(parameters('workspaces_ward_name'), '/medtech-nicu/fhir-destination')]";
        template["resources"]![3]!["dependsOn"] = new JsonArray("[resourceId('Microsoft.HealthcareApis/workspaces/iotconnectors', parameters('workspaces_ward_name'), 'medtech-nicu')]");
        var from = Path.Combine(temp, "export.json");
        File.WriteAllText(from, template.ToJsonString());

        var (exit, _, _) = Run("mapping", "import", "--from", from, "--out", Path.Combine(temp, "out"));

        Assert.NotEqual(0, exit);
    }

    // Was a review finding: an export with a repeated property name outside the mappings (a hand-edited or merged template) is not refused with
    // exit 2 and a reason: the duplicate surfaces as an unhandled ArgumentException (exit 1 and a stack trace).
    [Fact]
    public void GivenARepeatedPropertyName_WhenImported_ThenExitTwoNamingTheFile()
    {
        const string original = "\"contentVersion\": \"1.0.0.0\",";
        var text = File.ReadAllText(Fixture);
        Assert.Contains(original, text);
        var from = Path.Combine(temp, "export.json");
        File.WriteAllText(from, text.Replace(original, original + " \"contentVersion\": \"2.0.0.0\",", StringComparison.Ordinal));

        var (exit, output, error) = Run("mapping", "import", "--from", from, "--out", Path.Combine(temp, "out"));

        Assert.True(exit == 2, $"exit {exit}: {output}{error}");
        Assert.StartsWith(from, error);
    }

    // Any other string ARM would evaluate is what the deployed service holds evaluated; we cannot evaluate it offline.
    [Fact]
    public void GivenAnArmExpressionInsideAMapping_WhenImported_ThenExitTwoNamingWhere()
    {
        var template = JsonNode.Parse(File.ReadAllText(Fixture))!;
        var first = template["resources"]![2]!["properties"]!["deviceMapping"]!["content"]!["template"]![0]!["template"]!;
        first["typeName"] = "[parameters('typeName')]";
        var from = Path.Combine(temp, "export.json");
        File.WriteAllText(from, template.ToJsonString());

        var (exit, _, error) = Run("mapping", "import", "--from", from, "--out", Path.Combine(temp, "out"));

        Assert.Equal(2, exit);
        Assert.Contains("typeName", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(temp, "out", "devicecontent.json")));
    }

    [Fact]
    public void GivenAnExportOverTheSizeCap_WhenImported_ThenExitTwoBeforeParsing()
    {
        var from = Path.Combine(temp, "export.json");
        File.WriteAllText(from, "{\"resources\": [], \"pad\": \"" + new string('x', 4 * 1024 * 1024) + "\"}");

        var (exit, _, error) = Run("mapping", "import", "--from", from, "--out", Path.Combine(temp, "out"));

        Assert.Equal(2, exit);
        Assert.StartsWith(from, error);
        Assert.Contains("MiB", error, StringComparison.Ordinal);
    }
}
