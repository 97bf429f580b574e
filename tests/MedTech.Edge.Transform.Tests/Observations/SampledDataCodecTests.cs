using MedTech.Edge.Transform.Observations;

namespace MedTech.Edge.Transform.Tests.Observations;

public class SampledDataCodecTests
{
    private static readonly DateTime Start = new(2019, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void GivenElevenOneMinuteValuesAndATenMinuteWindow_WhenEncoded_ThenTheValueAfterTheEndIsDropped()
    {
        var values = Enumerable.Range(0, 11).Select(i => new TimedValue(Start.AddMinutes(i), i.ToString()));

        var data = SampledDataCodec.Encode(values, Start, Start.AddMinutes(10).AddTicks(-1), 60_000);

        Assert.Equal("0 1 2 3 4 5 6 7 8 9", data);
    }

    [Fact]
    public void GivenTwoValuesInOneSlotAndGaps_WhenEncoded_ThenTheLatestWinsAndGapsAreE()
    {
        TimedValue[] values = [new(Start.AddSeconds(2.5), "b"), new(Start.AddSeconds(2.1), "a"), new(Start.AddSeconds(4), "c")];

        var data = SampledDataCodec.Encode(values, Start, Start.AddSeconds(5), 1000);

        Assert.Equal("E E b E c E", data);
    }

    [Fact]
    public void GivenEncodedData_WhenDecoded_ThenValuesSitAtTheirSlotStarts()
    {
        var decoded = SampledDataCodec.Decode("E 7 E 9", Start, 500).ToList();

        Assert.Equal([new(Start.AddMilliseconds(500), "7"), new(Start.AddMilliseconds(1500), "9")], decoded);
    }

    [Fact]
    public void GivenAHourlyWindowAndOnePeriodPerSecond_WhenEncoded_ThenThereAre3600Tokens()
    {
        var data = SampledDataCodec.Encode([new(Start.AddMinutes(46).AddSeconds(1.875), "78")], Start, Start.AddHours(1).AddTicks(-1), 1000);

        var tokens = data.Split(' ');
        Assert.Equal(3600, tokens.Length);
        Assert.Equal(2761, Array.IndexOf(tokens, "78"));
    }
}
