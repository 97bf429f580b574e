using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MedTech.Edge.Testing;

/// <summary>
/// A strict parser of the Prometheus text exposition format (0.0.4, as scraped from <c>/metrics</c>): it throws on any
/// line the format does not allow, a sample before or without its family's TYPE, a TYPE given twice, an unknown type,
/// a malformed label set or value, and a series given twice. No Prometheus parser package is served here, and string
/// matching would pass a wrong type or a series without its TYPE.
/// </summary>
public static partial class PrometheusText
{
    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    public static IReadOnlyDictionary<string, Family> Parse(string text)
    {
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        var number = 0;
        foreach (var line in text.Split('\n'))
        {
            number++;
            if (line.Length == 0 || line == "# EOF")
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var meta = MetaLine().Match(line);
                if (!meta.Success)
                {
                    // Any other comment is allowed by the format.
                    continue;
                }

                var name = meta.Groups["name"].Value;
                var family = families.TryGetValue(name, out var known) ? known : families[name] = new Family(name);
                if (meta.Groups["kind"].Value == "TYPE")
                {
                    var type = meta.Groups["rest"].Value;
                    if (family.Type is not null || family.Samples.Count > 0 || !Types.Contains(type))
                    {
                        throw new FormatException($"line {number}: TYPE repeated, after samples, or unknown: {line}");
                    }

                    family.Type = type;
                }
                else
                {
                    family.Help = meta.Groups["rest"].Value;
                }

                continue;
            }

            var sample = SampleLine().Match(line);
            if (!sample.Success)
            {
                throw new FormatException($"line {number}: not a sample: {line}");
            }

            var sampleName = sample.Groups["name"].Value;
            var owner = FamilyOf(families, sampleName) ?? throw new FormatException($"line {number}: sample without a TYPE: {line}");
            var labels = Labels(sample.Groups["labels"].Value, number);
            var key = sampleName + "{" + string.Join(",", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) + "}";
            if (!series.Add(key))
            {
                throw new FormatException($"line {number}: series given twice: {key}");
            }

            owner.Samples.Add(new Sample(sampleName, labels, Value(sample.Groups["value"].Value, number)));
        }

        return families;
    }

    /// <summary>The family a sample belongs to: its own name, or the name before a suffix its family's type allows.</summary>
    private static Family? FamilyOf(Dictionary<string, Family> families, string name)
    {
        if (families.TryGetValue(name, out var exact) && exact.Type is not null)
        {
            return exact;
        }

        foreach (var (suffix, types) in new[] { ("_total", new[] { "counter" }), ("_bucket", ["histogram"]), ("_sum", ["histogram", "summary"]), ("_count", ["histogram", "summary"]) })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && families.TryGetValue(name[..^suffix.Length], out var family) && types.Contains(family.Type))
            {
                return family;
            }
        }

        return null;
    }

    private static Dictionary<string, string> Labels(string text, int number)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var position = 0;
        while (position < text.Length)
        {
            var label = Label().Match(text, position);
            if (!label.Success || label.Index != position)
            {
                throw new FormatException($"line {number}: malformed labels: {text}");
            }

            var value = new StringBuilder();
            var raw = label.Groups["value"].Value;
            for (var i = 0; i < raw.Length; i++)
            {
                value.Append(raw[i] != '\\' ? raw[i] : raw[++i] switch
                {
                    'n' => '\n',
                    '\\' => '\\',
                    '"' => '"',
                    var other => throw new FormatException($"line {number}: bad escape \\{other}"),
                });
            }

            if (!labels.TryAdd(label.Groups["name"].Value, value.ToString()))
            {
                throw new FormatException($"line {number}: label given twice: {text}");
            }

            position += label.Length;
        }

        return labels;
    }

    private static double Value(string text, int number) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : throw new FormatException($"line {number}: bad value {text}"),
    };

    [GeneratedRegex("^# (?<kind>HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<rest>.*)$")]
    private static partial Regex MetaLine();

    [GeneratedRegex("^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(?<labels>.*)\\})? (?<value>[^ ]+)(?: -?[0-9]+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=\"(?<value>(?:[^\"\\\\]|\\\\.)*)\",?")]
    private static partial Regex Label();

    public sealed class Family(string name)
    {
        public string Name { get; } = name;

        public string? Type { get; set; }

        public string? Help { get; set; }

        public List<Sample> Samples { get; } = [];
    }

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);
}
