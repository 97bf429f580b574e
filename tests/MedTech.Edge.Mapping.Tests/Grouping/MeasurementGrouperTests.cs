using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Mapping.Tests.Grouping;

public class MeasurementGrouperTests
{
    private static readonly DateTime T0 = new(2024, 1, 1, 10, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void GivenMeasurements_WhenGrouped_ThenOneGroupPerDevicePatientEncounterCorrelationAndType()
    {
        var groups = MeasurementGrouper.Group(
        [
            M("hr", "d1", T0, "1"), M("hr", "d1", T0.AddSeconds(1), "2"), M("spo2", "d1", T0, "98"),
            M("hr", "d2", T0, "3"), M("hr", "d1", T0, "4", patient: "p2"), M("hr", "d1", T0, "5", correlation: "c"),
        ]);

        Assert.Equal(5, groups.Count);
        Assert.Equal(2, groups[0].Measurements.Count);
        Assert.Equal(new MeasurementGroupKey("d1", "p1", null, null, "hr"), groups[0].Key);
    }

    [Fact]
    public void GivenSameOccurrenceTime_WhenGrouped_ThenTheLatestIngestedWinsWhateverTheInputOrder()
    {
        var older = M("hr", "d1", T0, "old", ingested: T0.AddMinutes(1));
        var newer = M("hr", "d1", T0, "new", ingested: T0.AddMinutes(2));

        Assert.Equal("new", MeasurementGrouper.Group([older, newer]).Single().Measurements.Single().Properties[0].Value);
        Assert.Equal("new", MeasurementGrouper.Group([newer, older]).Single().Measurements.Single().Properties[0].Value);
    }

    [Fact]
    public void GivenOutOfOrderTimes_WhenGrouped_ThenDataIsSortedByTime()
    {
        var group = MeasurementGrouper.Group([M("hr", "d1", T0.AddSeconds(5), "b"), M("hr", "d1", T0, "a")]).Single();

        Assert.Equal(["a", "b"], group.Measurements.Select(m => m.Properties[0].Value));
    }

    [Fact]
    public void GivenKeysThatWouldCollideAsJoinedStrings_WhenGrouped_ThenTheyStayApart()
    {
        var groups = MeasurementGrouper.Group([M("c", "a-b", T0, "1"), M("b-c", "a", T0, "2")]);

        Assert.Equal(2, groups.Count);
        Assert.NotEqual(groups[0].Id, groups[1].Id);
    }

    [Fact]
    public void GivenTheSameMeasurements_WhenGroupedTwice_ThenIdsAreEqual_AndChangeWithContent()
    {
        var first = MeasurementGrouper.Group([M("hr", "d1", T0, "1"), M("hr", "d1", T0.AddSeconds(1), "2")]).Single();
        var again = MeasurementGrouper.Group([M("hr", "d1", T0.AddSeconds(1), "2"), M("hr", "d1", T0, "1")]).Single();
        var changed = MeasurementGrouper.Group([M("hr", "d1", T0, "1"), M("hr", "d1", T0.AddSeconds(1), "3")]).Single();

        Assert.Equal(first.Id, again.Id);
        Assert.NotEqual(first.Id, changed.Id);
        Assert.Matches("^[0-9a-f]{64}$", first.Id);
    }

    private static Measurement M(string type, string device, DateTime time, string value, string? patient = "p1", string? correlation = null, DateTime? ingested = null) =>
        new()
        {
            Type = type,
            DeviceId = device,
            PatientId = patient,
            CorrelationId = correlation,
            OccurrenceTimeUtc = time,
            IngestionTimeUtc = ingested ?? T0,
            Properties = [new MeasurementProperty("v", value)],
        };
}
