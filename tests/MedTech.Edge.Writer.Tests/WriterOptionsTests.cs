namespace MedTech.Edge.Writer.Tests;

/// <summary><see cref="WriterOptions.RevocationGrace"/>: a negative grace, or one the group would time out waiting for, is refused at start.</summary>
public sealed class WriterOptionsTests
{
    [Theory]
    [InlineData("-00:00:01", false)]
    [InlineData("00:02:00.001", false)]
    [InlineData("10675199.02:48:05.4775807", false)]
    [InlineData("00:00:00", true)]
    [InlineData("00:00:10", true)]
    [InlineData("00:02:00", true)]
    public void GivenARevocationGrace_WhenValidated_ThenOnlyZeroToTwoMinutesIsAccepted(string grace, bool valid)
    {
        var options = new WriterOptions { FhirMappingPath = VitalSigns.FhirMapping, RevocationGrace = TimeSpan.Parse(grace, System.Globalization.CultureInfo.InvariantCulture) };

        var errors = options.Validate();

        Assert.Equal(valid, errors.Count == 0);
        Assert.Equal(!valid, errors.Any(e => e.Contains("Writer:RevocationGrace", StringComparison.Ordinal)));
    }
}
