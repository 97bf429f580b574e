using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Transform.Templates;

namespace MedTech.Edge.Persist.Tests.Observations;

/// <summary>The size cap of one Observation and the ends of the calendar, checked before anything large is built.</summary>
public class ObservationLimitsTests
{
    private static readonly DateTime Start = new(2019, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void GivenAWindowOfYearsAtOneSecond_WhenEncodedWithTheDefaultLimits_ThenItIsTooLargeBeforeTheDataIsAllocated()
    {
        var limits = new PersistenceOptions().Limits;
        var before = GC.GetAllocatedBytesForCurrentThread();

        var ex = Assert.Throws<TransformException>(() => SampledDataCodec.Encode([new(Start, "1")], Start, Start.AddYears(3), 1000, limits));

        Assert.Equal(FhirErrorCodes.ObservationTooLarge, ex.Code);
        // 3 years at 1 s is 94.7 M slots: the slot array alone would be 750 MB, the string 190 MB.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "the cap is checked before the slots are allocated");
    }

    [Fact]
    public void GivenTheWholeCalendarAtOneMillisecond_WhenEncodedWithoutLimits_ThenTheSlotCountDoesNotOverflowAndIsTooLarge()
    {
        var ex = Assert.Throws<TransformException>(() => SampledDataCodec.Encode([], DateTime.MinValue, DateTime.MaxValue, 1, ObservationLimits.None));

        Assert.Equal(FhirErrorCodes.ObservationTooLarge, ex.Code);
    }

    [Fact]
    public void GivenFewSlotsButLongValues_WhenEncoded_ThenTheLengthCapApplies()
    {
        var values = Enumerable.Range(0, 10).Select(i => new TimedValue(Start.AddSeconds(i), "1" + new string('0', 100)));

        var ex = Assert.Throws<TransformException>(() => SampledDataCodec.Encode(values, Start, Start.AddSeconds(9), 1000, new ObservationLimits(100, 500)));

        Assert.Equal(FhirErrorCodes.ObservationTooLarge, ex.Code);
        Assert.Equal("1 2", SampledDataCodec.Encode([new(Start, "1"), new(Start.AddSeconds(1), "2")], Start, Start.AddSeconds(1), 1000, new ObservationLimits(2, 3)));
    }

    [Fact]
    public void GivenAStringValueOverTheLimit_WhenAnObservationIsCreated_ThenItIsTooLarge()
    {
        var template = Build.Template("note", PeriodInterval.Single, new StringValueTemplate("text"));
        var group = Assert.Single(ObservationGrouping.Split(Build.Group(Build.Measurement("note", "2026-11-24T08:00:00Z", ("text", new string('x', 101)))), template.PeriodInterval));

        var ex = Assert.Throws<TransformException>(() => ObservationFactory.Create(template, group, new ResourceIds("p", "d"), DateTimeOffset.UnixEpoch, new ObservationLimits(10, 100)));

        Assert.Equal(FhirErrorCodes.ObservationTooLarge, ex.Code);
    }

    [Theory]
    [InlineData(PeriodInterval.Hourly, "9999-12-31T23:30:00Z")]
    [InlineData(PeriodInterval.Daily, "9999-12-31T00:00:01Z")]
    public void GivenAnOccurrenceInTheLastWindowOfTheCalendar_WhenSplit_ThenItIsIncompatibleData(PeriodInterval interval, string time)
    {
        var ex = Assert.Throws<TransformException>(() => ObservationGrouping.Split(Build.Group(Build.Measurement("hr", time, ("hr", "1"))), interval));

        Assert.Equal(FhirErrorCodes.IncompatibleData, ex.Code);
    }

    [Fact]
    public void GivenLimitsBelowOne_WhenValidated_ThenEachIsNamed()
    {
        var errors = new PersistenceOptions { MaxSampledDataSlots = 0, MaxValueLength = -1 }.Validate();

        Assert.Contains(errors, e => e.Contains("MaxSampledDataSlots", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("MaxValueLength", StringComparison.Ordinal));
    }
}
