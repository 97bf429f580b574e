using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Transform.Templates;

namespace MedTech.Edge.Transform.Tests.Observations;

public class ObservationGroupingTests
{
    [Theory]
    [InlineData(PeriodInterval.Hourly, "2019-01-01T00:17:03.5Z", "20190101000000Z.20190101005959Z", "2019-01-01T00:00:00Z", "2019-01-01T00:59:59.9999999Z")]
    [InlineData(PeriodInterval.Daily, "2019-01-01T17:17:03Z", "20190101000000Z.20190101235959Z", "2019-01-01T00:00:00Z", "2019-01-01T23:59:59.9999999Z")]
    [InlineData(PeriodInterval.Single, "2019-01-01T17:17:03.875Z", "20190101171703Z.20190101171703Z", "2019-01-01T17:17:03.875Z", "2019-01-01T17:17:03.875Z")]
    public void GivenAnInterval_WhenSplit_ThenBoundaryAndSegmentAreUpstreams(PeriodInterval interval, string time, string segment, string start, string end)
    {
        var group = Build.Group(Build.Measurement("hr", time, ("hr", "78")));

        var result = Assert.Single(ObservationGrouping.Split(group, interval));

        Assert.Equal(segment, result.IdSegment);
        Assert.Equal((Build.Utc(start), Build.Utc(end)), (result.Start, result.End));
    }

    [Fact]
    public void GivenMeasurementsAcrossTwoHours_WhenSplitHourly_ThenTwoGroupsWithTheirValuesSortedByTime()
    {
        var group = Build.Group(
            Build.Measurement("hr", "2019-01-01T01:10:00Z", ("hr", "3")),
            Build.Measurement("hr", "2019-01-01T00:50:00Z", ("hr", "2")),
            Build.Measurement("hr", "2019-01-01T00:10:00Z", ("hr", "1")));

        var result = ObservationGrouping.Split(group, PeriodInterval.Hourly);

        Assert.Equal(2, result.Count);
        Assert.Equal(["1", "2"], result.Single(g => g.Start.Hour == 0).ValuesOf("hr").Select(v => v.Value));
        Assert.Equal(["3"], result.Single(g => g.Start.Hour == 1).ValuesOf("hr").Select(v => v.Value));
    }

    [Fact]
    public void GivenACorrelationTemplate_WhenSplit_ThenOneGroupSpanningTheDataWithTheCorrelationIdAsSegment()
    {
        var measurements = new[] { "2019-01-01T00:10:00Z", "2019-01-02T03:00:00Z" }
            .Select(t => Build.Measurement("session", t, ("v", "1")) with { CorrelationId = "run-7" }).ToArray();

        var result = Assert.Single(ObservationGrouping.Split(Build.Group(measurements), PeriodInterval.CorrelationId));

        Assert.Equal("run-7", result.IdSegment);
        Assert.Equal((Build.Utc("2019-01-01T00:10:00Z"), Build.Utc("2019-01-02T03:00:00Z")), (result.Start, result.End));
    }

    [Fact]
    public void GivenACorrelationTemplateAndNoCorrelationId_WhenSplit_ThenCorrelationIdNotDefined()
    {
        var group = Build.Group(Build.Measurement("session", "2019-01-01T00:10:00Z", ("v", "1")));

        var ex = Assert.Throws<TransformException>(() => ObservationGrouping.Split(group, PeriodInterval.CorrelationId));

        Assert.Equal(FhirErrorCodes.CorrelationIdNotDefined, ex.Code);
    }

    [Fact]
    public void GivenTheWorkedExample_WhenIdentified_ThenIdentifierAndIdAreUpstreams()
    {
        var group = Build.Group(Build.Measurement("heartrate", "2019-02-01T22:46:01.875Z", ("hr", "78")));
        var observationGroup = Assert.Single(ObservationGrouping.Split(group, PeriodInterval.Hourly));

        var value = ObservationIdentity.IdentifierValue(new ResourceIds("p1", "d1"), observationGroup);

        Assert.Equal("p1.d1.heartrate.20190201220000Z.20190201225959Z", value);
        Assert.Equal(Sha256Hex("https://azure.microsoft.com/en-us/services/iomt-fhir-connector/_" + value), ObservationIdentity.ObservationId(value));
    }

    private static string Sha256Hex(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
}
