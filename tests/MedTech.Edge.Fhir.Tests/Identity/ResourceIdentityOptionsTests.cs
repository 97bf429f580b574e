using MedTech.Edge.Fhir.Identity;

namespace MedTech.Edge.Fhir.Tests.Identity;

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
}
