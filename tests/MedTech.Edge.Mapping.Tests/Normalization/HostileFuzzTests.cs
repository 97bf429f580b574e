using System.Diagnostics;
using System.Globalization;
using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Xunit.Abstractions;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>
/// Seeded fuzzing of payload bytes into Normalize with hostile values (huge, NUL, lone surrogates, ends of number
/// and date ranges, deep nesting, regex bait). A fixed seed always runs; a fresh one each run, printed, so a
/// failure can be replayed (set MEDTECH_FUZZ_SEED) and then kept as a case of its own.
/// </summary>
public class HostileFuzzTests(ITestOutputHelper output)
{
    private static readonly HashSet<string> KnownCodes = typeof(ErrorCodes).GetFields().Select(f => (string)f.GetValue(null)!).ToHashSet();

    private static readonly NormalizationLimits Limits = new()
    {
        MaxTimePerMessage = TimeSpan.FromMilliseconds(200),
        RegexMatchTimeout = TimeSpan.FromMilliseconds(20),
        MaxMeasurementsPerMessage = 500,
    };

    private static readonly string[] HostileValues =
    [
        "\"\"", "null", "true", "{}", "[]", "0", "-0", "1e400", "-1e400", "NaN", "Infinity", "4.9e-324", "1.7976931348623157e308",
        "123456789012345678901234567890", "9223372036854775807", "-9223372036854775808", "\"\\u0000\"", "\"a\\u0000b\"",
        "\"\\ud800\"", "\"\\udc00x\"", "\"\\ud83d\\udc93\"", "\"0001-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59.9999999Z\"",
        "\"9999-12-31T23:00:00-05:00\"", "\"0001-01-01T00:00:00+14:00\"", "\"1970-01-01T00:00:00Z\"", "\"2026-11-23T09:00:00Z\"",
        "\"2026-11-23T09:00:00\"", "\"2026-11-25T10:00:00Z\"", "\" \"", "\"\\t\"", "1700000000", "-62135596801", "253402300800",
    ];

    private static readonly string[] Names = ["hr", "device", "patient", "time", "code", "readings", "Body", "matchedToken", "systolic", "deviceId", "timestamp", "\u0000"];

    public static TheoryData<string, int> Cases()
    {
        var fresh = int.TryParse(Environment.GetEnvironmentVariable("MEDTECH_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : Environment.TickCount;
        var mappings = Corpus.BenchMappings().Append("regex");
        var data = new TheoryData<string, int>();
        foreach (var mapping in mappings)
        {
            data.Add(mapping, 20261207);
            data.Add(mapping, fresh);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GivenHostilePayloads_WhenNormalized_ThenNothingEscapesEveryErrorIsKnownAndEachMessageStaysInItsTime(string mapping, int seed)
    {
        output.WriteLine($"seed {seed} (replay: MEDTECH_FUZZ_SEED={seed})");
        var normalizer = new Normalizer(mapping == "regex" ? RegexMapping() : Corpus.Mapping(mapping), Limits);
        var valid = File.ReadAllBytes(Corpus.Bench("message-bedside-monitor.json"));
        var random = new Random(seed);
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 1500; i++)
        {
            var body = (i % 3) switch
            {
                0 => Corpus.Utf8(HostileJson(random)),
                1 => Mutate(valid, random),
                _ => Noise(random),
            };
            var clock = Stopwatch.StartNew();

            var result = normalizer.Normalize(new DeviceMessage(body, Corpus.Ingested));

            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
            Assert.True(result.Measurements.Count + result.Errors.Count > 0);
            Assert.All(result.Errors, e => Assert.Contains(e.Code, KnownCodes));
            Assert.All(result.Measurements, m => AssertWithinLimits(m));
        }

        output.WriteLine($"slowest message: {slowest.TotalMilliseconds:0.0} ms (limit {Limits.MaxTimePerMessage.TotalMilliseconds} ms plus one evaluation)");

        // Not a measurement of speed: a message that hangs would take seconds to hours; the limit ends it in 200 ms.
        Assert.True(slowest < TimeSpan.FromSeconds(5), $"slowest message took {slowest}");
    }

    private static void AssertWithinLimits(Measurement m)
    {
        Assert.InRange(m.DeviceId.Length, 1, Limits.MaxIdentifierLength);
        Assert.InRange(m.PatientId?.Length ?? 0, 0, Limits.MaxIdentifierLength);
        Assert.All(m.Properties, p => Assert.InRange(p.Value.Length, 0, Limits.MaxValueLength));
        Assert.InRange(m.OccurrenceTimeUtc, Corpus.Ingested - Limits.PlausiblePast, Corpus.Ingested + Limits.PlausibleFuture);
    }

    /// <summary>A bedside-like document whose values come from the hostile pool, or are long, deep or regex bait.</summary>
    private static string HostileJson(Random random)
    {
        var json = new StringBuilder("{\"readings\": [");
        for (var r = random.Next(1, 6); r > 0; r--)
        {
            json.Append('{');
            foreach (var name in Names.OrderBy(_ => random.Next()).Take(random.Next(1, Names.Length)))
            {
                json.Append('"').Append(name == "\u0000" ? "\\u0000" : name).Append("\":").Append(Value(random)).Append(',');
            }

            json.Length--;
            json.Append("},");
        }

        json.Length--;
        return json.Append("], \"device\": ").Append(Value(random)).Append(", \"time\": ").Append(Value(random)).Append('}').ToString();
    }

    private static string Value(Random random)
    {
        var depth = random.Next(50, 80);
        return random.Next(20) switch
        {
            0 => "\"" + new string('x', random.Next(400, 40_000)) + "\"",
            1 => new string('[', depth) + "1" + new string(']', depth), // past the parser's depth limit or not
            2 => "\"" + new string('a', random.Next(10, 26)) + "!\"", // backtracking bait: from instant to past the regex time-out
            3 => "\"2026-11-23T09:00:00Z\"",
            _ => HostileValues[random.Next(HostileValues.Length)],
        };
    }

    private static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = new List<byte>(valid);
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(3))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.InsertRange(at, Corpus.Utf8(HostileValues[random.Next(HostileValues.Length)])); break;
                default: bytes.RemoveAt(at); break;
            }
        }

        return [.. bytes];
    }

    private static byte[] Noise(Random random)
    {
        var bytes = new byte[random.Next(0, 400)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static DeviceMapping RegexMapping() => DeviceMapping.Parse("""
        { "templateType": "CollectionContent", "template": [ { "templateType": "CalculatedContent", "template": {
            "typeName": "coded", "typeMatchExpression": "$.Body.readings[?(@.code =~ /^(a+)+$/)]",
            "deviceIdExpression": "$.matchedToken.device", "patientIdExpression": "$.matchedToken.patient",
            "timestampExpression": "$.matchedToken.time",
            "values": [ { "valueName": "hr", "valueExpression": "$.matchedToken.hr", "required": true } ] } },
          { "templateType": "CalculatedContent", "template": {
            "typeName": "hr", "typeMatchExpression": { "value": "Body.readings[?hr]", "language": "JmesPath" },
            "deviceIdExpression": { "value": "join('-', [to_string(matchedToken.device), to_string(matchedToken.patient)])", "language": "JmesPath" },
            "timestampExpression": "$.matchedToken.time",
            "values": [ { "valueName": "hr", "valueExpression": { "value": "multiply(matchedToken.hr, `2`)", "language": "JmesPath" }, "required": true },
                        { "valueName": "code", "valueExpression": "$.matchedToken.code" } ] } } ] }
        """).EnsureValid("regex");
}
