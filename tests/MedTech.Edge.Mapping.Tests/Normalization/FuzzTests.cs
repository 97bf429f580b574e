using System.Globalization;
using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>
/// Property: whatever arrives, normalization returns (never throws) and yields measurements or errors.
/// Seeds are fixed so a failure reproduces; the generator favours the names the mappings look for.
/// </summary>
public class FuzzTests
{
    private static readonly string[] Names = ["hr", "heartRate", "spo2", "systolic", "diastolic", "deviceId", "device", "patientId", "timestamp", "time", "Body", "matchedToken", "data", "unit", "x"];

    public static TheoryData<string> Mappings() => new(
        Directory.GetFiles(Reference.PathOf("bench"), "device-mapping-*.json")
            .Concat(Directory.GetFiles(Reference.PathOf(Reference.Samples), "device*apping.json", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(Reference.Root, f)));

    [Theory]
    [MemberData(nameof(Mappings))]
    public void GivenArbitraryJson_WhenNormalized_ThenNeverThrowsAndAlwaysAnswers(string mapping)
    {
        var normalizer = new Normalizer(DeviceMapping.Load(Reference.PathOf(mapping)));
        var random = new Random(20261124);
        for (var i = 0; i < 2000; i++)
        {
            var body = new StringBuilder();
            WriteValue(body, random, depth: 0);
            AssertAnswers(normalizer.Normalize(new DeviceMessage(Encoding.UTF8.GetBytes(body.ToString()), Reference.Ingested)));
        }
    }

    [Theory]
    [MemberData(nameof(Mappings))]
    public void GivenArbitraryBytes_WhenNormalized_ThenNeverThrowsAndAlwaysAnswers(string mapping)
    {
        var normalizer = new Normalizer(DeviceMapping.Load(Reference.PathOf(mapping)));
        var random = new Random(42);
        var valid = File.ReadAllBytes(Reference.PathOf("bench/message-bedside-monitor.json"));
        for (var i = 0; i < 2000; i++)
        {
            // Half pure noise, half a valid message with a few bytes flipped.
            var bytes = i % 2 == 0 ? new byte[random.Next(0, 300)] : (byte[])valid.Clone();
            if (i % 2 == 0)
            {
                random.NextBytes(bytes);
            }
            else
            {
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }
            }

            AssertAnswers(normalizer.Normalize(new DeviceMessage(bytes, Reference.Ingested)));
        }
    }

    private static void AssertAnswers(NormalizationResult result)
    {
        Assert.True(result.Measurements.Count + result.Errors.Count > 0);
        Assert.All(result.Errors, e => Assert.False(string.IsNullOrWhiteSpace(e.Code)));
    }

    private static void WriteValue(StringBuilder json, Random random, int depth)
    {
        switch (random.Next(depth > 4 ? 6 : 8))
        {
            case 0: json.Append("null"); break;
            case 1: json.Append(random.Next(2) == 0 ? "true" : "false"); break;
            case 2: json.Append(random.Next(-1000, 1000)); break;
            case 3: json.Append((random.NextDouble() * 1e6).ToString("R", CultureInfo.InvariantCulture)); break;
            case 4: json.Append("\"2024-0").Append(random.Next(1, 10)).Append("-01T10:00:00Z\""); break;
            case 5: json.Append('"').Append(Names[random.Next(Names.Length)]).Append('"'); break;
            case 6:
                json.Append('[');
                for (var i = random.Next(4); i > 0; i--)
                {
                    WriteValue(json, random, depth + 1);
                    json.Append(i > 1 ? "," : "");
                }

                json.Append(']');
                break;
            default:
                json.Append('{');
                var names = Names.OrderBy(_ => random.Next()).Take(random.Next(6)).ToList();
                for (var i = 0; i < names.Count; i++)
                {
                    json.Append('"').Append(names[i]).Append("\":");
                    WriteValue(json, random, depth + 1);
                    json.Append(i < names.Count - 1 ? "," : "");
                }

                json.Append('}');
                break;
        }
    }
}
