using System.Text.Json;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The cloud writer module ships no LiteDB and no gateway buffer: those belong to the edge and the one-process run
/// (MedTech.Edge.Standalone). Read from the module's deps.json, the list <c>dotnet publish</c> copies from, so a
/// reference that sneaks back in through any project fails here.
/// </summary>
public sealed class ModuleDependencyTests
{
    [Fact]
    public void GivenTheFhirWriterModuleBuild_ThenItsDependenciesHaveNoLiteDbAndNoBuffer()
    {
        var deps = Path.Combine(ModuleProcess.OutputFolder("FhirWriter"), "MedTech.Edge.Modules.FhirWriter.deps.json");
        using var json = JsonDocument.Parse(File.ReadAllBytes(deps));
        var libraries = json.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).ToList();

        // The list is the real one: the writer and its Kafka client are in it.
        Assert.Contains("MedTech.Edge.Writer", libraries);
        Assert.Contains("Confluent.Kafka", libraries);
        Assert.DoesNotContain(libraries, l => l.StartsWith("LiteDB", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain("MedTech.Edge.Buffer", libraries);
        Assert.DoesNotContain("MedTech.Edge.Standalone", libraries);
    }
}
