using MedTech.Edge.Persist.Server;

namespace MedTech.Edge.Persist.Tests.Server;

public class FhirServerOptionsTests
{
    [Theory]
    [InlineData("http://127.0.0.1:8103/fhir", FhirAuthentication.None)]
    [InlineData("https://ws-fhir.fhir.azurehealthcareapis.com", FhirAuthentication.BearerToken)]
    public void GivenUsableOptions_WhenValidated_ThenNoErrors(string url, FhirAuthentication authentication)
    {
        var options = new FhirServerOptions { Url = new Uri(url), Authentication = authentication, BearerToken = "t" };

        Assert.Empty(options.Validate());
    }

    [Theory]
    [InlineData("http://fhir.hospital.example/fhir", FhirAuthentication.BearerToken, "FhirServer:Url uses plain http")]
    [InlineData("https://fhir.hospital.example/fhir", FhirAuthentication.None, "FhirServer:Authentication is None")]
    [InlineData("https://fhir.hospital.example/fhir", FhirAuthentication.BearerToken, "FhirServer:BearerToken is required")]
    [InlineData("https://fhir.hospital.example/fhir", FhirAuthentication.ClientCredentials, "FhirServer:ClientSecret is required")]
    [InlineData("ftp://fhir.hospital.example/fhir", FhirAuthentication.None, "FhirServer:Url must be an absolute https URL")]
    public void GivenUnsafeOrIncompleteOptions_WhenValidated_ThenTheErrorNamesTheField(string url, FhirAuthentication authentication, string expected)
    {
        var options = new FhirServerOptions { Url = new Uri(url), Authentication = authentication, TenantId = "t", ClientId = "c" };

        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void GivenSecrets_WhenPrinted_ThenTheyAreRedacted()
    {
        var options = new FhirServerOptions { Url = new Uri("https://x.example"), BearerToken = "token-123", ClientSecret = "secret-456" };

        var text = options.ToString();

        Assert.DoesNotContain("token-123", text);
        Assert.DoesNotContain("secret-456", text);
        Assert.Contains("BearerToken=(set)", text);
    }
}
