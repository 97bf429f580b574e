using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests;

/// <summary>
/// The shared reference corpus (MedTech / iomt-fhir mappings and messages) that sits beside the repository as
/// <c>../shared/reference</c>; <c>MEDTECH_REFERENCE_DIR</c> points elsewhere.
/// </summary>
internal static class Reference
{
    public static readonly string Root = Locate();

    public const string IomtTestInput = "iomt-fhir/test/Microsoft.Health.Fhir.Ingest.Template.UnitTests/TestInput";
    public const string Samples = "azure-health-data-and-ai-samples/samples/medtech-service-mappings";
    public const string Extracts = "azure-health-data-and-ai-samples/readme-extracts";

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Text(string relative) => File.ReadAllText(PathOf(relative));

    public static DeviceMapping Mapping(string relative)
    {
        var mapping = DeviceMapping.Parse(Text(relative));
        Assert.True(mapping.IsValid, string.Join(Environment.NewLine, mapping.Errors));
        return mapping;
    }

    /// <summary>Normalizes a reference file: a whole envelope as it is, a payload as the Body of an empty envelope.</summary>
    public static NormalizationResult Normalize(DeviceMapping mapping, string messageRelative)
    {
        if (Envelope.ParseText(Text(messageRelative).TrimStart('\uFEFF')) is JObject json
            && json.ContainsKey("Body") && json.ContainsKey("SystemProperties"))
        {
            return new Normalizer(mapping).Normalize(json, Ingested);
        }

        return new Normalizer(mapping).Normalize(new DeviceMessage(File.ReadAllBytes(PathOf(messageRelative)), Ingested));
    }

    public static readonly DateTime Ingested = new(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc);

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("MEDTECH_REFERENCE_DIR") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MedTech.Edge.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "reference"));
            }
        }

        throw new DirectoryNotFoundException("MedTech.Edge.sln not found above the test binaries; set MEDTECH_REFERENCE_DIR.");
    }
}
