using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>Hostile templates for <c>medtech mapping import</c>: it must exit 2 with a reason, never crash, never hang.</summary>
public sealed class MappingImportAttackTests : IDisposable
{
    private static readonly string Fixtures = Testing.Repository.PathOf("tests", "MedTech.Edge.Cli.Tests", "Import");
    private readonly string temp = Directory.CreateTempSubdirectory("medtech-import-attack-").FullName;

    public void Dispose() => Directory.Delete(temp, recursive: true);

    private static JsonNode Portal() => JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "portal-export.json")))!;

    private static JsonObject DeviceMapping(JsonNode template) => template["resources"]![2]!["properties"]!["deviceMapping"]!.AsObject();

    private string Write(string text)
    {
        var path = Path.Combine(temp, $"export-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }

    private (int Exit, string Output, string Error) Import(string path, string? outDir = null) =>
        Run("mapping", "import", "--from", path, "--out", outDir ?? Path.Combine(temp, "out"));

    private static void AssertRefused((int Exit, string Output, string Error) result)
    {
        Assert.True(result.Exit == 2, $"exit {result.Exit}: {result.Output}{result.Error}");
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Attack_ATemplateWithARawNulByte_Exits2()
    {
        var text = Portal().ToJsonString();
        AssertRefused(Import(Write(text.Insert(text.IndexOf('{', 1), "\0"))));
    }

    [Fact]
    public void Attack_ADeviceMappingStringHoldingNulAndAMegabyte_Exits2()
    {
        var template = Portal();
        DeviceMapping(template)["content"] = "\0" + new string('x', 1 << 20);
        AssertRefused(Import(Write(template.ToJsonString())));
    }

    [Fact]
    public void Attack_AMegabyteResourceNameAndParameterName_Exits2InTime()
    {
        var template = Portal();
        var big = new string('a', 1 << 20);
        DeviceMapping(template)["content"] = $"[parameters('{big}')]";
        template["resources"]![2]!["name"] = big;
        var watch = Stopwatch.StartNew();
        AssertRefused(Import(Write(template.ToJsonString())));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), watch.Elapsed.ToString());
    }

    [Theory]
    [InlineData(100)]
    [InlineData(100_000)]
    public void Attack_DeeplyNestedTemplate_Exits2(int depth)
    {
        var text = new StringBuilder("{\"resources\":[{\"type\":\"t\",\"name\":\"n\",\"x\":");
        text.Append('[', depth).Append(']', depth).Append("}]}");
        AssertRefused(Import(Write(text.ToString())));
    }

    [Fact]
    public void Attack_AParameterWhoseDefaultIsAReferenceToAnother_IsFollowed()
    {
        var template = Portal();
        var content = DeviceMapping(template)["content"]!.DeepClone();
        template["parameters"]!["inner"] = new JsonObject { ["type"] = "object", ["defaultValue"] = content };
        template["parameters"]!["outer"] = new JsonObject { ["type"] = "string", ["defaultValue"] = "[parameters('inner')]" };
        DeviceMapping(template)["content"] = "[parameters('outer')]";

        var (exit, output, error) = Import(Write(template.ToJsonString()));

        Assert.True(exit == 0, output + error);
        Assert.True(JsonNode.DeepEquals(content, JsonNode.Parse(File.ReadAllText(Path.Combine(temp, "out", "devicecontent.json")))));
    }

    /// <summary>
    /// A parameter whose default names itself (or two naming each other) makes Content recurse without end: a stack
    /// overflow, which kills the process. Run through the real CLI in a child process so it cannot take the test host
    /// down with it.
    /// </summary>
    [Theory]
    [InlineData("self")]
    [InlineData("mutual")]
    public async System.Threading.Tasks.Task Attack_AParameterThatReferencesItself_Exits2WithoutCrashing(string shape)
    {
        var template = Portal();
        template["parameters"]!["a"] = new JsonObject { ["type"] = "string", ["defaultValue"] = shape == "self" ? "[parameters('a')]" : "[parameters('b')]" };
        template["parameters"]!["b"] = new JsonObject { ["type"] = "string", ["defaultValue"] = "[parameters('a')]" };
        DeviceMapping(template)["content"] = "[parameters('a')]";
        var path = Write(template.ToJsonString());

        var cli = Path.Combine(AppContext.BaseDirectory, "medtech.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "exec", cli, "mapping", "import", "--from", path, "--out", Path.Combine(temp, "out") })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("hung");
        }

        AssertRefused((process.ExitCode, await stdout, await stderr));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[{\"templateType\":\"CollectionContent\",\"template\":[]}]")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("\"\"")]
    public void Attack_ContentThatIsNotAnObject_Exits2(string content)
    {
        var template = Portal();
        DeviceMapping(template)["content"] = JsonNode.Parse(content);
        AssertRefused(Import(Write(template.ToJsonString())));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("42")]
    [InlineData("null")]
    public void Attack_AParameterDefaultThatIsNotAnObject_Exits2(string value)
    {
        var template = Portal();
        template["parameters"]!["p"] = new JsonObject { ["type"] = "object", ["defaultValue"] = JsonNode.Parse(value) };
        DeviceMapping(template)["content"] = "[parameters('p')]";
        AssertRefused(Import(Write(template.ToJsonString())));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("\"text\"")]
    public void Attack_ATemplateThatIsNotAnObject_Exits2(string text) => AssertRefused(Import(Write(text)));

    [Fact]
    public void Attack_ParametersThatAreAnArray_Exits2()
    {
        var template = Portal();
        template["parameters"] = new JsonArray(1, 2);
        DeviceMapping(template)["content"] = "[parameters('p')]";
        AssertRefused(Import(Write(template.ToJsonString())));
    }

    [Fact]
    public void Attack_AnOutThatIsAFile_Exits2()
    {
        var file = Path.Combine(temp, "a-file");
        File.WriteAllText(file, "x");
        AssertRefused(Import(Write(Portal().ToJsonString()), file));
        Assert.Equal("x", File.ReadAllText(file));
    }
}
