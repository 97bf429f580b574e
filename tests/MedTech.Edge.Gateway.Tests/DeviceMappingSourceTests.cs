using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>Mapping hot reload: a changed file is validated before it replaces the mapping in use.</summary>
public sealed class DeviceMappingSourceTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-mapping-").FullName;
    private int writes;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAValidUpdate_WhenTheFileChanges_ThenTheNewMappingIsUsed()
    {
        var path = Write(Mapping("heartRate"));
        var source = DeviceMappingSource.Load(path, NullLogger<DeviceMappingSource>.Instance);
        Assert.Equal("heartRate", Normalize(source.Current)[0].Type);

        Write(Mapping("pulse"), path);

        Assert.True(source.ReloadIfChanged());
        Assert.Equal("pulse", Normalize(source.Current)[0].Type);
        Assert.False(source.ReloadIfChanged());
    }

    [Fact]
    public void GivenAnInvalidUpdate_WhenTheFileChanges_ThenTheLastGoodMappingStaysInUse()
    {
        var path = Write(Mapping("heartRate"));
        var source = DeviceMappingSource.Load(path, NullLogger<DeviceMappingSource>.Instance);

        Write("""{ "templateType": "CollectionContent", "template": [ { "templateType": "JsonPathContent", "template": { } } ] }""", path);

        Assert.False(source.ReloadIfChanged());
        Assert.Equal("heartRate", Normalize(source.Current)[0].Type);
    }

    [Fact]
    public void GivenAnInvalidFileAtStart_ThenLoadingFailsNamingTheErrors()
    {
        var path = Write("""{ "templateType": "CollectionContent", "template": [ { "templateType": "JsonPathContent", "template": { } } ] }""");

        var error = Assert.Throws<InvalidMappingException>(() => DeviceMappingSource.Load(path, NullLogger<DeviceMappingSource>.Instance));

        Assert.Contains("typeName", error.Message);
    }

    private static IReadOnlyList<Measurement> Normalize(Normalizer normalizer) =>
        normalizer.Normalize(new DeviceMessage("""{"deviceId":"d1","hr":72,"time":"2026-11-24T08:00:00Z"}"""u8.ToArray(), DateTime.UtcNow)).Measurements;

    private static string Mapping(string type) => $$"""
        { "templateType": "CollectionContent", "template": [ { "templateType": "JsonPathContent", "template": {
          "typeName": "{{type}}", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.deviceId", "timestampExpression": "$.time",
          "values": [ { "valueName": "hr", "valueExpression": "$.hr", "required": true } ] } } ] }
        """;

    private string Write(string json, string? path = null)
    {
        path ??= Path.Combine(folder, "devicecontent.json");
        File.WriteAllText(path, json);
        // Each write a minute later, as an editor's save would be: the file system's timestamp resolution is not the test's subject.
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(++writes));
        return path;
    }
}
