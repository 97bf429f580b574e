using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;

namespace MedTech.Edge.Persist.Tests.Identity;

/// <summary>Hostile review of issue 20: Device histories shaped as real servers return them.</summary>
public class HostileTimelineTests
{
    private static readonly DateTimeOffset Fetched = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void GivenTwoDeviceVersionsWithOneLastUpdated_WhenTheHistoryComesNewestFirst_ThenTheNewestVersionIsTheOneStillOn()
    {
        // A server with second precision (or a script that unlinks and re-links in one millisecond) gives two versions
        // one meta.lastUpdated. A history bundle lists the newest first, as FHIR says it must. The Device now names b.
        var relink = new DateTimeOffset(2026, 11, 20, 10, 30, 0, TimeSpan.Zero);
        var history = new List<(Device? Version, DateTimeOffset? Time)>
        {
            (Version("3", "Patient/b", relink), relink),
            (Version("2", "Patient/a", relink), relink),
            (Version("1", "Patient/a", relink.AddHours(-2)), relink.AddHours(-2)),
        };

        var timeline = AssociationTimeline.FromDeviceHistory(history, Fetched);

        Assert.Equal("3", timeline.DeviceVersion);
        Assert.Equal("b", timeline.PatientAt(relink.AddMinutes(5).UtcDateTime).PatientId);
    }

    private static Device Version(string versionId, string patient, DateTimeOffset at) => new()
    {
        Id = "d",
        Meta = new Meta { VersionId = versionId, LastUpdated = at },
        Patient = new ResourceReference(patient),
    };
}
