using System.Text;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Mapping.Tests.Grouping;

public class MeasurementGroupJsonTests
{
    [Fact]
    public void GivenAGroup_WhenSerializedAndRead_ThenEveryFieldSurvivesInUpstreamsWireNames()
    {
        var measurement = new Measurement
        {
            Type = "heartrate",
            OccurrenceTimeUtc = new DateTime(2026, 11, 24, 8, 0, 1, 875, DateTimeKind.Utc),
            IngestionTimeUtc = new DateTime(2026, 11, 24, 8, 0, 2, DateTimeKind.Utc),
            DeviceId = "monitor-1",
            PatientId = "patient-1",
            CorrelationId = "run-1",
            Properties = [new MeasurementProperty("hr", "78")],
        };
        var group = Assert.Single(MeasurementGrouper.Group([measurement]));

        var json = MeasurementGroupJson.Serialize(group);
        var (id, measurements) = MeasurementGroupJson.Deserialize(json);

        Assert.Equal(group.Id, id);
        var read = Assert.Single(measurements);
        Assert.Equal(measurement with { Properties = read.Properties }, read);
        Assert.Equal(measurement.Properties, read.Properties);
        Assert.Equal(DateTimeKind.Utc, read.OccurrenceTimeUtc.Kind);
        Assert.Contains("\"OccurrenceTimeUtc\":\"2026-11-24T08:00:01.875Z\"", Encoding.UTF8.GetString(json));
        Assert.Contains("\"EncounterId\":null", Encoding.UTF8.GetString(json));
    }
}
