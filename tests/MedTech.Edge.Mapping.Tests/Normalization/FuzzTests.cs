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
    public static TheoryData<string> Mappings() => new(
        Corpus.BenchMappings().Concat(Corpus.Files("cases", "device-mapping.json")));

    [Theory]
    [MemberData(nameof(Mappings))]
    public void GivenArbitraryJson_WhenNormalized_ThenNeverThrowsAndAlwaysAnswers(string mapping)
    {
        var normalizer = new Normalizer(DeviceMapping.Load(Corpus.PathOf(mapping)));
        var random = new Random(20261124);
        for (var i = 0; i < 2000; i++)
        {
            AssertAnswers(normalizer.Normalize(new DeviceMessage(Encoding.UTF8.GetBytes(RandomJson.Next(random)), Corpus.Ingested)));
        }
    }

    [Theory]
    [MemberData(nameof(Mappings))]
    public void GivenArbitraryBytes_WhenNormalized_ThenNeverThrowsAndAlwaysAnswers(string mapping)
    {
        var normalizer = new Normalizer(DeviceMapping.Load(Corpus.PathOf(mapping)));
        var random = new Random(42);
        var valid = File.ReadAllBytes(Corpus.Bench("message-bedside-monitor.json"));
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

            AssertAnswers(normalizer.Normalize(new DeviceMessage(bytes, Corpus.Ingested)));
        }
    }

    private static void AssertAnswers(NormalizationResult result)
    {
        Assert.True(result.Measurements.Count + result.Errors.Count > 0);
        Assert.All(result.Errors, e => Assert.False(string.IsNullOrWhiteSpace(e.Code)));
    }
}
