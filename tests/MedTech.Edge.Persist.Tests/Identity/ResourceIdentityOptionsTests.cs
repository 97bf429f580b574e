using MedTech.Edge.Persist.Identity;

namespace MedTech.Edge.Persist.Tests.Identity;

public class ResourceIdentityOptionsTests
{
    [Theory]
    [InlineData("Lookup", ResourceIdentityMode.Lookup)]
    [InlineData("create", ResourceIdentityMode.Create)]
    [InlineData("LookupWithEncounter", ResourceIdentityMode.LookupWithEncounter)]
    [InlineData("R4DeviceAndPatientLookupIdentityService", ResourceIdentityMode.Lookup)]
    [InlineData("R4DeviceAndPatientCreateIdentityService", ResourceIdentityMode.Create)]
    [InlineData("R4DeviceAndPatientWithEncounterLookupIdentityService", ResourceIdentityMode.LookupWithEncounter)]
    public void GivenAMedTechServiceTypeName_WhenRead_ThenTheModeIsKnown(string name, ResourceIdentityMode expected)
    {
        var options = new ResourceIdentityOptions { ResourceIdentityServiceType = name };

        Assert.Empty(options.Validate());
        Assert.Equal(expected, options.Mode);
    }

    [Fact]
    public void GivenAnUnknownServiceType_WhenValidated_ThenTheErrorNamesTheField()
    {
        var options = new ResourceIdentityOptions { ResourceIdentityServiceType = "Guess" };

        Assert.StartsWith("ResourceIdentity:ResourceIdentityServiceType 'Guess'", Assert.Single(options.Validate()));
    }

    [Theory]
    [InlineData("CurrentDevice", PatientAssociation.CurrentDevice)]
    [InlineData("devicehistory", PatientAssociation.DeviceHistory)]
    [InlineData("DeviceUseStatement", PatientAssociation.DeviceUseStatement)]
    public void GivenAnAssociationName_WhenRead_ThenItIsKnown(string name, PatientAssociation expected)
    {
        var options = new ResourceIdentityOptions { Association = name };

        Assert.Empty(options.Validate());
        Assert.Equal(expected, options.PatientAssociation);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("CurrentDevice,DeviceUseStatement")]
    [InlineData("")]
    [InlineData("Encounter")]
    public void GivenAnAssociationThatIsNotAName_WhenValidated_ThenItIsRefused(string name)
    {
        var options = new ResourceIdentityOptions { Association = name };

        Assert.StartsWith("ResourceIdentity:Association", Assert.Single(options.Validate()));
        Assert.Throws<InvalidOperationException>(() => options.PatientAssociation);
    }

    [Fact]
    public void GivenTheDefaults_WhenRead_ThenARelinkIsSeenWithinAMinuteAsMedTechChartsIt()
    {
        var options = new ResourceIdentityOptions();

        Assert.Equal(PatientAssociation.CurrentDevice, options.PatientAssociation);
        Assert.True(options.MaxStaleness > TimeSpan.Zero && options.MaxStaleness <= TimeSpan.FromSeconds(60));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("-00:00:01")]
    [InlineData("03:00:00")]
    public void GivenAStalenessBoundThatIsNotPositiveOrOverTheCacheExpiry_WhenValidated_ThenItIsRefused(string bound)
    {
        var options = new ResourceIdentityOptions { MaxStaleness = TimeSpan.Parse(bound, System.Globalization.CultureInfo.InvariantCulture) };

        Assert.StartsWith("ResourceIdentity:MaxStaleness", Assert.Single(options.Validate()));
    }
}
