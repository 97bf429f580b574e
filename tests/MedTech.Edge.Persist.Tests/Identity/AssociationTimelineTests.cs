using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform;

namespace MedTech.Edge.Persist.Tests.Identity;

/// <summary>The association rules of docs/patient-association.md, on timelines built from statements and Device versions.</summary>
public class AssociationTimelineTests
{
    private static readonly DateTimeOffset Fetched = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void GivenARelinkAtOneInstant_WhenAsked_ThenTheStartIsInclusiveAndTheEndExclusive()
    {
        var timeline = AssociationTimeline.FromStatements(
            [Statement("1", "Patient/a", "2026-11-20T10:00:00Z", "2026-11-20T10:30:00Z"), Statement("2", "Patient/b", "2026-11-20T10:30:00Z", null)], Fetched);

        Assert.Equal(("a", (string?)null), timeline.PatientAt(At("2026-11-20T10:00:00Z")));
        Assert.Equal("a", timeline.PatientAt(At("2026-11-20T10:29:59.9999999Z")).PatientId);
        Assert.Equal("b", timeline.PatientAt(At("2026-11-20T10:30:00Z")).PatientId);
        Assert.Equal("b", timeline.PatientAt(DateTime.MaxValue).PatientId);
        Assert.Equal((null, FhirErrorCodes.NoPatientAssociation), timeline.PatientAt(At("2026-11-20T09:59:59.9999999Z")));
        Assert.Equal((null, FhirErrorCodes.NoPatientAssociation), timeline.PatientAt(DateTime.MinValue));
    }

    [Fact]
    public void GivenTwoPatientsAtOneTime_WhenAsked_ThenItIsAmbiguousAndTheSamePatientTwiceIsNot()
    {
        var timeline = AssociationTimeline.FromStatements(
            [Statement("1", "Patient/a", "2026-11-20T10:00:00Z", null), Statement("2", "Patient/b", "2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z"),
             Statement("3", "Patient/a", "2026-11-20T12:30:00Z", "2026-11-20T13:00:00Z")], Fetched);

        Assert.Equal("a", timeline.PatientAt(At("2026-11-20T10:59:59Z")).PatientId);
        Assert.Equal((null, FhirErrorCodes.AmbiguousPatientAssociation), timeline.PatientAt(At("2026-11-20T11:00:00Z")));
        Assert.Equal("a", timeline.PatientAt(At("2026-11-20T12:45:00Z")).PatientId);
    }

    [Theory]
    [InlineData(DeviceUseStatement.DeviceUseStatementStatus.EnteredInError, false)]
    [InlineData(DeviceUseStatement.DeviceUseStatementStatus.Intended, false)]
    [InlineData(DeviceUseStatement.DeviceUseStatementStatus.Active, true)]
    [InlineData(DeviceUseStatement.DeviceUseStatementStatus.Completed, true)]
    [InlineData(DeviceUseStatement.DeviceUseStatementStatus.Stopped, true)]
    [InlineData(DeviceUseStatement.DeviceUseStatementStatus.OnHold, true)]
    public void GivenAStatementStatus_WhenAsked_ThenOnlyStatementsThatSayTheDeviceWasOnCount(DeviceUseStatement.DeviceUseStatementStatus status, bool counts)
    {
        var statement = Statement("1", "Patient/b", "2026-11-20T10:00:00Z", null);
        statement.Status = status;
        var timeline = AssociationTimeline.FromStatements([Statement("0", "Patient/a", "2026-11-20T09:00:00Z", null), statement], Fetched);

        Assert.Equal(counts ? (null, FhirErrorCodes.AmbiguousPatientAssociation) : ("a", null), timeline.PatientAt(At("2026-11-20T10:00:00Z")));
    }

    [Fact]
    public void GivenStatementsThatSayNothingUsable_WhenAsked_ThenTheyAreLeftOutAndOtherSubjectsAreNotSkipped()
    {
        var noStart = Statement("1", "Patient/x", null, null);
        var dateTime = Statement("2", "Patient/x", null, null);
        dateTime.Timing = new FhirDateTime("2026-11-20T10:00:00Z");
        var backwards = Statement("3", "Patient/x", "2026-11-20T12:00:00Z", "2026-11-20T11:00:00Z");
        var garbage = Statement("4", "Patient/x", "not a date", null);
        var group = Statement("5", "Group/ward-3", "2026-11-21T00:00:00Z", null);
        var timeline = AssociationTimeline.FromStatements([noStart, dateTime, backwards, garbage, group, Statement("6", "Patient/a", "2026-11-21T00:00:00Z", null)], Fetched);

        Assert.Equal((null, FhirErrorCodes.NoPatientAssociation), timeline.PatientAt(At("2026-11-20T11:30:00Z")));
        // A Group subject is a span without a Patient: beside a Patient it is ambiguous, never skipped.
        Assert.Equal((null, FhirErrorCodes.AmbiguousPatientAssociation), timeline.PatientAt(At("2026-11-21T01:00:00Z")));
    }

    [Fact]
    public void GivenDateOnlyBounds_WhenAsked_ThenTheEndDayIsCoveredWholeAndOffsetsAreHonoured()
    {
        var timeline = AssociationTimeline.FromStatements([Statement("1", "Patient/a", "2026-11-20", "2026-11-20"), Statement("2", "Patient/b", "2026-11-22T01:00:00+02:00", null)], Fetched);

        Assert.Equal("a", timeline.PatientAt(At("2026-11-20T23:59:59Z")).PatientId);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, timeline.PatientAt(At("2026-11-21T00:00:00Z")).Code);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, timeline.PatientAt(At("2026-11-21T22:59:59Z")).Code);
        Assert.Equal("b", timeline.PatientAt(At("2026-11-21T23:00:00Z")).PatientId);
    }

    [Theory]
    [InlineData("9999-12-31")]
    [InlineData("9999-12")]
    [InlineData("9999")]
    [InlineData("9999-12-31T23:59:59.9999999Z")]
    public void GivenAnEndAtTheEndOfTheCalendar_WhenAsked_ThenTheStatementHoldsToTheEnd(string end)
    {
        var timeline = AssociationTimeline.FromStatements([Statement("1", "Patient/a", "0001-01-01", end)], Fetched);

        Assert.Equal("a", timeline.PatientAt(DateTime.MinValue).PatientId);
        Assert.Equal("a", timeline.PatientAt(At("9999-12-31T23:59:59Z")).PatientId);
    }

    [Fact]
    public void GivenDeviceVersions_WhenAsked_ThenEachVersionsPatientHoldsUntilTheNextVersionAndADeletionEndsIt()
    {
        var timeline = AssociationTimeline.FromDeviceHistory(
        [
            (Version("3", "Patient/b", "2026-11-20T10:30:00Z"), At2("2026-11-20T10:30:00Z")),
            (Version("1", "Patient/a", "2026-11-20T10:00:00Z"), At2("2026-11-20T10:00:00Z")),
            (Version("2", null, "2026-11-20T10:10:00Z"), At2("2026-11-20T10:10:00Z")),
            (Version("2b", "Patient/a", "2026-11-20T10:20:00Z"), At2("2026-11-20T10:20:00Z")),
            (null, At2("2026-11-20T11:00:00Z")),
            (Version("5", "Patient/c", "2026-11-20T12:00:00Z", Device.FHIRDeviceStatus.EnteredInError), At2("2026-11-20T12:00:00Z")),
            (Version("6", "Patient/d", null), null),
        ], Fetched);

        Assert.Equal(FhirErrorCodes.NoPatientAssociation, timeline.PatientAt(At("2026-11-20T09:59:59Z")).Code);
        Assert.Equal("a", timeline.PatientAt(At("2026-11-20T10:05:00Z")).PatientId);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, timeline.PatientAt(At("2026-11-20T10:15:00Z")).Code);
        Assert.Equal("a", timeline.PatientAt(At("2026-11-20T10:29:59.999Z")).PatientId);
        Assert.Equal("b", timeline.PatientAt(At("2026-11-20T10:30:00Z")).PatientId);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, timeline.PatientAt(At("2026-11-20T11:30:00Z")).Code);
        Assert.Equal(FhirErrorCodes.NoPatientAssociation, timeline.PatientAt(At("2026-11-21T00:00:00Z")).Code);
        Assert.Equal("5", timeline.DeviceVersion);
    }

    private static DeviceUseStatement Statement(string id, string subject, string? start, string? end) => new()
    {
        Id = id,
        Status = DeviceUseStatement.DeviceUseStatementStatus.Active,
        Subject = new ResourceReference(subject),
        Device = new ResourceReference("Device/d"),
        Timing = start is null ? null : new Period { StartElement = new FhirDateTime { Value = start }, EndElement = end is null ? null : new FhirDateTime { Value = end } },
    };

    private static Device Version(string version, string? patient, string? lastUpdated, Device.FHIRDeviceStatus? status = null) => new()
    {
        Id = "d",
        Status = status,
        Patient = patient is null ? null : new ResourceReference(patient),
        Meta = new Meta { VersionId = version, LastUpdated = lastUpdated is null ? null : At2(lastUpdated) },
    };

    private static DateTime At(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture).UtcDateTime;

    private static DateTimeOffset At2(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
}
