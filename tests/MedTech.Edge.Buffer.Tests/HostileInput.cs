using System.Globalization;
using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// A seeded generator of what a hostile device can send: strings with NUL, unpaired surrogates, case variants,
/// LiteDB's special names, long runs; property sets; payloads. The tests print the seed; set MEDTECH_FUZZ_SEED to
/// run one again.
/// </summary>
internal sealed class HostileInput(int seed)
{
    private static readonly string[] Special = ["", "_id", "$", "$type", ".", "a.b", "\0", "foo", "Foo", "FOO", "\uD800", "\uDC00", "\uDC00\uD800", "😀", "\uFFFF", "\uFEFF"];

    private readonly Random random = new(seed);

    public int Seed { get; } = seed;

    /// <summary>A seed from MEDTECH_FUZZ_SEED, else a new one each run.</summary>
    public static int NextSeed() =>
        int.TryParse(Environment.GetEnvironmentVariable("MEDTECH_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)
            ? seed : Random.Shared.Next();

    public string String(int maxLength = 64) => random.Next(8) switch
    {
        0 => Special[random.Next(Special.Length)],
        1 => new string((char)random.Next(0xD800, 0xE000), 1 + random.Next(3)),
        2 => Units(random.Next(maxLength + 1), 0, 0x10000),
        3 => Units(random.Next(maxLength + 1), 0, 0x80),
        4 => string.Concat(Special[random.Next(Special.Length)], Units(random.Next(8), 0xD800, 0xE000), "\0"),
        5 => random.Next(50) == 0 ? Units(20_000 + random.Next(80_000), 0, 0x10000) : Units(random.Next(maxLength + 1), 0x20, 0x7F),
        _ => Units(random.Next(maxLength + 1), 0x20, 0x7F),
    };

    public Dictionary<string, string> Properties()
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var count = random.Next(random.Next(10) == 0 ? 200 : 6); count > 0; count--)
        {
            var name = String(16);
            properties[name] = String();

            // A case variant of the same name: MQTT compares bytes, so it is another property.
            if (random.Next(4) == 0)
            {
                properties[Flip(name)] = String();
            }
        }

        return properties;
    }

    public byte[] Payload()
    {
        var payload = new byte[random.Next(4) == 0 ? 0 : random.Next(random.Next(20) == 0 ? 200_000 : 600)];
        random.NextBytes(payload);
        return payload;
    }

    public InboxMessage Message(DateTime receivedUtc) => new(String(), String(), Payload(), receivedUtc, Properties());

    public int Next(int max) => random.Next(max);

    private string Units(int length, int from, int to)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = (char)random.Next(from, to);
        }

        return new string(chars);
    }

    private static string Flip(string name)
    {
        var flipped = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            flipped.Append(char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
        }

        return flipped.ToString();
    }
}

/// <summary>Exact comparison of stored messages: every field, strings ordinal, the payload byte for byte.</summary>
internal static class Exactly
{
    public static void Equal(InboxMessage expected, InboxMessage actual, string context)
    {
        Assert.True(string.Equals(expected.ClientId, actual.ClientId, StringComparison.Ordinal), $"client id differs ({context})");
        Assert.True(string.Equals(expected.Topic, actual.Topic, StringComparison.Ordinal), $"topic differs ({context})");
        Assert.True(expected.Payload.Span.SequenceEqual(actual.Payload.Span), $"payload differs ({context})");
        Assert.Equal(expected.ReceivedUtc, actual.ReceivedUtc);
        Assert.Equal(expected.Properties.Count, actual.Properties.Count);
        foreach (var (key, value) in expected.Properties)
        {
            Assert.True(actual.Properties.TryGetValue(key, out var stored), $"property missing ({context})");
            Assert.True(string.Equals(value, stored, StringComparison.Ordinal), $"property value differs ({context})");
        }
    }
}
