using System.Globalization;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using Xunit.Abstractions;

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// Property-based fuzzing of device publishes (payload bytes, MQTT 5 user properties, topics, both protocol
/// versions) into the one-process pipeline, from a seeded generator that prints its seed (set MEDTECH_FUZZ_SEED to
/// replay one; MEDTECH_FUZZ_CASES for more cases). Every input ever found to break an invariant is kept in
/// FuzzRegressions/ and replayed first. Invariants: the pipeline stays up after every case, everything
/// acknowledged ends normalized or dead-lettered and everything normalized ends written or dead-lettered (the buffer
/// drains), and a good reading sent after it all is charted.
/// </summary>
public sealed class PublishFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-fuzz-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>One publish: what a regression file holds.</summary>
    public sealed record FuzzCase(MqttProtocolVersion Protocol, string Topic, string PayloadBase64, List<string[]> Properties);

    [Fact]
    public async Task GivenThousandsOfRandomPublishes_ThenThePipelineStaysUpAndEverythingAcknowledgedIsAccountedFor()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("MEDTECH_FUZZ_SEED"), out var s) ? s : Random.Shared.Next();
        var count = int.TryParse(Environment.GetEnvironmentVariable("MEDTECH_FUZZ_CASES"), out var c) ? c : 2000;
        output.WriteLine($"seed {seed} ({count} cases); replay with MEDTECH_FUZZ_SEED={seed}");
        var random = new Random(seed);
        var cases = Regressions().Concat(Enumerable.Range(0, count).Select(_ => Generate(random))).ToList();

        // The per-device publish rate is off: a few client ids publish thousands of cases as fast as they can, and the
        // rate's refusals (DeviceFloodTests, DeviceQuotaTests) would leave too few cases to reach the pipeline.
        await using var pipeline = await OneProcessPipeline.StartAsync(folder, new Dictionary<string, string?> { ["Mqtt:DeviceQuota:RatePerSecond"] = "0" });
        var clients = new Dictionary<MqttProtocolVersion, IMqttClient>();
        int acknowledged = 0, refused = 0, closed = 0;
        try
        {
            for (var i = 0; i < cases.Count; i++)
            {
                var fuzz = cases[i];
                if (!clients.TryGetValue(fuzz.Protocol, out var client) || !client.IsConnected)
                {
                    client?.Dispose();
                    clients[fuzz.Protocol] = client = await pipeline.ConnectAsync($"fuzz-{fuzz.Protocol}", fuzz.Protocol);
                }

                try
                {
                    var message = OneProcessPipeline.Message(fuzz.Topic, Convert.FromBase64String(fuzz.PayloadBase64), fuzz.Properties.Select(p => (p[0], p[1])).ToArray());
                    _ = (await client.PublishAsync(message)).IsSuccess ? acknowledged++ : refused++;
                }
                catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or MQTTnet.Exceptions.MqttProtocolViolationException
                    or OperationCanceledException or InvalidOperationException or ArgumentException)
                {
                    // Refused by closing the connection (MQTT 3.1.1 has no negative PUBACK), or not sendable at all.
                    closed++;
                }

                Assert.True(pipeline.Running, $"the pipeline stopped at case {i} (seed {seed}): {Keep(fuzz)}");
            }

            output.WriteLine($"{acknowledged} acknowledged, {refused} refused, {closed} closed or not sendable");
            await pipeline.AssertGoodReadingIsChartedAsync();
            var stats = await pipeline.DrainedAsync();

            // Every acknowledged publish (and the good reading) was committed, and ended normalized or dead-lettered.
            Assert.Equal(acknowledged + 1, stats.Committed);
            Assert.Equal(stats.Committed, stats.Normalized + stats.DeadLettered);
            Assert.True(acknowledged > cases.Count / 2, $"only {acknowledged} of {cases.Count} acknowledged: the generator makes too few valid publishes");
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                client.Dispose();
            }
        }
    }

    private static FuzzCase Generate(Random random)
    {
        var protocol = random.Next(3) == 0 ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500;
        var device = random.Next(4) == 0 ? Text(random, random.Next(1, 40)) : $"fuzz-{random.Next(5)}";
        var topic = random.Next(10) == 0 ? "devices/" + Text(random, random.Next(1, 30)).Replace('+', 'p').Replace('#', 'h').Replace('\0', 'z') + "/x" : $"devices/{device}/vitals";
        var properties = protocol == MqttProtocolVersion.V500
            ? Enumerable.Range(0, random.Next(4)).Select(_ => new[] { Text(random, random.Next(0, 20)), Text(random, random.Next(0, random.Next(3) == 0 ? 5000 : 20)) }).ToList()
            : [];
        return new FuzzCase(protocol, topic, Convert.ToBase64String(Payload(random, device)), properties);
    }

    private static byte[] Payload(Random random, string device)
    {
        string Reading(string? field = null, string? value = null)
        {
            var fields = new Dictionary<string, string>
            {
                ["deviceId"] = JsonSerializer.Serialize(device),
                ["patientId"] = JsonSerializer.Serialize("patient-" + random.Next(5)),
                ["timestamp"] = JsonSerializer.Serialize(DateTime.UtcNow.AddSeconds(-random.Next(100_000)).ToString("o", CultureInfo.InvariantCulture)),
                ["heartRate"] = random.Next(30, 200).ToString(CultureInfo.InvariantCulture),
            };
            if (random.Next(3) == 0)
            {
                fields["session"] = JsonSerializer.Serialize("s" + random.Next(3));
                fields["ecg"] = (random.NextDouble() * 2 - 1).ToString("R", CultureInfo.InvariantCulture);
            }

            if (field is not null)
            {
                fields[field] = value!;
            }

            return "{" + string.Join(",", fields.Select(f => $"{JsonSerializer.Serialize(f.Key)}:{f.Value}")) + "}";
        }

        string Field() => new[] { "deviceId", "patientId", "timestamp", "heartRate", "session", "ecg", "tag", "level" }[random.Next(8)];

        return random.Next(8) switch
        {
            0 => RandomBytes(random, random.Next(0, 512)),
            1 => Encoding.UTF8.GetBytes(Reading(Field(), Json(random, depth: 0))),
            2 => Encoding.UTF8.GetBytes(Reading()[..random.Next(1, 60)]),
            3 => Encoding.UTF8.GetBytes(Json(random, depth: 0)),
            4 => Encoding.UTF8.GetBytes(Reading("timestamp", JsonSerializer.Serialize(Timestamp(random)))),
            5 => Encoding.UTF8.GetBytes(Reading(Field(), JsonSerializer.Serialize(new string('x', random.Next(10_000, 150_000))))),
            6 => Encoding.UTF8.GetBytes(new string('[', random.Next(1, 20_000))),
            _ => Encoding.UTF8.GetBytes(Reading()),
        };
    }

    private static string Timestamp(Random random) => random.Next(4) switch
    {
        0 => new DateTime(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), DateTimeKind.Utc).ToString("o", CultureInfo.InvariantCulture),
        1 => random.Next(2) == 0 ? "0001-01-01T00:00:00+14:00" : "9999-12-31T23:59:59.9999999-14:00",
        2 => random.NextInt64().ToString(CultureInfo.InvariantCulture),
        _ => Text(random, random.Next(0, 40)),
    };

    /// <summary>A random JSON value: scalars at the ends of their ranges, strings with NUL and any Unicode, nesting.</summary>
    private static string Json(Random random, int depth) => random.Next(depth > 6 ? 6 : 9) switch
    {
        0 => "null",
        1 => random.Next(2) == 0 ? "true" : "false",
        2 => new[] { "0", "-0", "1e400", "-1e400", "1e-400", "123456789012345678901234567890", "9223372036854775808", "-9223372036854775809", "0.1", "79228162514264337593543950336" }[random.Next(10)],
        3 => random.NextDouble().ToString("R", CultureInfo.InvariantCulture),
        4 => JsonSerializer.Serialize(Text(random, random.Next(0, 50))),
        5 => JsonSerializer.Serialize(Text(random, random.Next(0, 3)) + "\0"),
        6 => "[" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => Json(random, depth + 1))) + "]",
        _ => "{" + string.Join(",", Enumerable.Range(0, random.Next(4)).Select(_ => $"{JsonSerializer.Serialize(Text(random, random.Next(0, 8)))}:{Json(random, depth + 1)}")) + "}",
    };

    /// <summary>Random text from every plane (NUL and controls included; lone surrogates become U+FFFD in UTF-8).</summary>
    private static string Text(Random random, int length)
    {
        var builder = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            builder.Append(random.Next(6) switch
            {
                0 => (char)random.Next(0, 32),
                1 => char.ConvertFromUtf32(random.Next(0x10000, 0x10FFFF)),
                2 => (char)random.Next(0x80, 0xD7FF),
                _ => (char)random.Next(32, 127),
            });
        }

        return builder.ToString();
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static IEnumerable<FuzzCase> Regressions() =>
        Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Hostile", "FuzzRegressions"), "*.json").Order()
            .Select(f => JsonSerializer.Deserialize<FuzzCase>(File.ReadAllText(f))!);

    /// <summary>Writes a failing case where it can be copied into FuzzRegressions/; returns where.</summary>
    private static string Keep(FuzzCase fuzz)
    {
        var path = Path.Combine(Path.GetTempPath(), $"medtech-fuzz-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(fuzz));
        return $"case kept in {path}; copy it into tests/MedTech.Edge.Standalone.Tests/Hostile/FuzzRegressions/";
    }
}
