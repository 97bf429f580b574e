using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Testing;

/// <summary>
/// The shared reference corpus (MedTech / iomt-fhir mappings and messages): files, mappings and normalization.
/// </summary>
internal static class Reference
{
    public static readonly string Root = ReferenceDirectory.Locate();

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
}
