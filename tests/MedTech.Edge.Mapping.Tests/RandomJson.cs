using System.Globalization;
using System.Text;

namespace MedTech.Edge.Mapping.Tests;

/// <summary>Random JSON for property tests, favouring the names mappings look for so that they match often.</summary>
internal static class RandomJson
{
    private static readonly string[] Names = ["hr", "heartRate", "spo2", "systolic", "diastolic", "deviceId", "device", "patientId", "timestamp", "time", "Body", "matchedToken", "data", "unit", "x"];

    public static string Next(Random random)
    {
        var json = new StringBuilder();
        WriteValue(json, random, depth: 0);
        return json.ToString();
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
            case 5: json.Append('"').Append(random.Next(4) == 0 ? "" : Names[random.Next(Names.Length)]).Append('"'); break;
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
