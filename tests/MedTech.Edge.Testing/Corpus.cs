using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Testing;

/// <summary>
/// The conformance corpus in tests/Conformance (see its NOTICE.md): one folder per case under <c>cases/</c> with
/// <c>device-mapping.json</c>, messages <c>message[-name].json</c>, the expected normalized output
/// <c>expected-normalized[-name].json</c> and, where a FHIR mapping applies, <c>fhir-mapping.json</c> and
/// <c>expected-observations[-name].json</c>; parse-only upstream templates under <c>templates/</c>.
/// Paths are relative to tests/Conformance so test names stay short; an absolute path is taken as it is.
/// </summary>
public static class Corpus
{
    public static readonly string Root = Repository.PathOf("tests", "Conformance");

    /// <summary>Upstream template unit-test fixtures (iomt-fhir Template.UnitTests/TestInput), names kept.</summary>
    public const string TemplateTests = "templates/template-tests";

    /// <summary>Upstream mapping-validator fixtures (iomt-fhir Validation.UnitTests/TestInput), names kept.</summary>
    public const string ValidationTests = "templates/validation-tests";

    public static string Case(string name, string file) => $"cases/{name}/{file}";

    /// <summary>The benchmark's own inputs, which tests also use as a realistic bedside-monitor message.</summary>
    public static string Bench(string file) => Repository.PathOf("tests", "MedTech.Edge.Benchmarks", "Inputs", file);

    /// <summary>The benchmark's three equivalent device mappings, relative to tests/Conformance.</summary>
    public static IEnumerable<string> BenchMappings() =>
        Directory.GetFiles(Bench(""), "device-mapping-*.json")
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Text(string relative) => File.ReadAllText(PathOf(relative));

    /// <summary>Files below <paramref name="folder"/> (relative) matching <paramref name="pattern"/>, as relative paths.</summary>
    public static IEnumerable<string> Files(string folder, string pattern) =>
        Directory.GetFiles(PathOf(folder), pattern, SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);

    /// <summary>Each case message that has an expected normalized output, as (case, message file, expected file).</summary>
    public static IEnumerable<(string Case, string Message, string Expected)> Examples() =>
        from expected in Files("cases", "expected-normalized*.json")
        let folder = Path.GetDirectoryName(expected)!.Replace('\\', '/')
        let name = Path.GetFileName(expected)["expected-normalized".Length..]
        select (Path.GetFileName(folder), $"{folder}/message{name}", expected);

    /// <summary>
    /// Each case message whose expected outcome is a failure, as (case, message file, expected file): <c>expected-error[-name].json</c>
    /// holds the reason <c>code</c> the message is dead-lettered with and, optionally, text its first error must hold (<c>messageNames</c>).
    /// </summary>
    public static IEnumerable<(string Case, string Message, string Expected)> Failures() =>
        from expected in Files("cases", "expected-error*.json")
        let folder = Path.GetDirectoryName(expected)!.Replace('\\', '/')
        let name = Path.GetFileName(expected)["expected-error".Length..]
        select (Path.GetFileName(folder), $"{folder}/message{name}", expected);

    public static DeviceMapping Mapping(string relative)
    {
        var mapping = DeviceMapping.Parse(Text(relative));
        Assert.True(mapping.IsValid, string.Join(Environment.NewLine, mapping.Errors));
        return mapping;
    }

    /// <summary>Normalizes a corpus file: a whole envelope as it is, a payload as the Body of an empty envelope.</summary>
    public static NormalizationResult Normalize(DeviceMapping mapping, string messageRelative)
    {
        var bytes = File.ReadAllBytes(PathOf(messageRelative));
        if (AsEnvelope(bytes) is { } json)
        {
            return new Normalizer(mapping).Normalize(json, Ingested);
        }

        return new Normalizer(mapping).Normalize(new DeviceMessage(bytes, Ingested));
    }

    private static JObject? AsEnvelope(byte[] bytes)
    {
        try
        {
            return Envelope.ParseBody(bytes) is JObject json && json.ContainsKey("Body") && json.ContainsKey("SystemProperties") ? json : null;
        }
        catch (FormatException)
        {
            return null; // the parity cases' broken bodies: the normalizer reports them
        }
    }

    public static readonly DateTime Ingested = new(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc);

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
