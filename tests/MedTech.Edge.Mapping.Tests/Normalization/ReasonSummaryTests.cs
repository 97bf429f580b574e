using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Mapping.Tests.Normalization;

/// <summary>The one dead-letter reason summary the gateway and the cloud writer store (<see cref="ErrorCodes.Summarize"/>).</summary>
public class ReasonSummaryTests
{
    [Fact]
    public void GivenManyLongErrors_WhenSummarized_ThenTheFirstFewAndTheTotalAreKeptWithinTheBound()
    {
        var errors = Enumerable.Range(1, 10_000).Select(i => new NormalizationError(ErrorCodes.IncompatibleData, $"error {i}: " + new string('x', 3000))).ToList();

        var reason = ErrorCodes.Summarize(errors, 4096);

        Assert.InRange(reason.Length, 1, 4096);
        Assert.StartsWith("error 1: ", reason, StringComparison.Ordinal);
        Assert.Contains("error 3: ", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("error 4: ", reason, StringComparison.Ordinal);
        Assert.EndsWith("10000 errors in all", reason, StringComparison.Ordinal);
        Assert.Equal("only", ErrorCodes.Summarize([new NormalizationError(ErrorCodes.DroppedEvent, "only")], 4096));
    }

    [Theory]
    [InlineData(10, 4096)]
    [InlineData(5000, 4096)]
    [InlineData(100_000, 128)]
    [InlineData(100, 5)]
    public void GivenLongText_WhenBounded_ThenItFitsAndSaysItWasCut(int length, int max)
    {
        var bounded = ErrorCodes.Bound(new string('r', length), max);

        Assert.InRange(bounded.Length, 1, max);
        Assert.Equal(length <= max, bounded == new string('r', length));
        Assert.Equal(length > max && max > 32, bounded.Contains("chars)", StringComparison.Ordinal));
    }

    [Fact]
    public void GivenABoundInsideASurrogatePairOrANulFlood_WhenSummarized_ThenNoPairIsSplitAndTheBoundHolds()
    {
        var pairs = new NormalizationError(ErrorCodes.IncompatibleData, string.Concat(Enumerable.Repeat("😀", 5000)));
        var nuls = new NormalizationError(ErrorCodes.IncompatibleData, new string('\0', 1 << 20));

        var reason = ErrorCodes.Summarize([pairs, nuls, pairs, nuls], 1000);

        Assert.InRange(reason.Length, 1, 1000);
        for (var i = 0; i < reason.Length; i++)
        {
            Assert.False(char.IsHighSurrogate(reason[i]) && (i + 1 == reason.Length || !char.IsLowSurrogate(reason[i + 1])), $"split pair at {i}");
        }
    }
}
