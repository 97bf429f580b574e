using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Tests;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Transform;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests.Identity;

/// <summary>Hostile review of issue 20: Create mode charting to the patient the message names, through the real FHIR test server.</summary>
[Collection(FhirServerGroup.Name)]
public class HostileCreateModeTests(FhirServerFixture fixture)
{
    private readonly string device = "hostile-" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task GivenCreateModeAndADeviceLinkedToPatientA_WhenAMessageNamesPatientB_ThenItIsNotChartedToA()
    {
        // Create mode: "the patient id comes from the message". The monitor moved to B; its messages say B.
        var client = fixture.Client();
        using var writer = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
        var a = await writer.ResolveAsync(new MeasurementGroupKey(device, "mrn-a-" + device, null, null, "heartrate"), default);

        string? charted = null;
        try
        {
            charted = (await writer.ResolveAsync(new MeasurementGroupKey(device, "mrn-b-" + device, null, null, "heartrate"), default)).PatientId;
        }
        catch (TransformException ex)
        {
            // Refusing is right too: the Device names another patient than the message.
            Assert.Equal(FhirErrorCodes.PatientDeviceMismatch, ex.Code);
        }

        Assert.NotEqual(a.PatientId, charted);
    }

    [Fact]
    public async Task GivenCreateModeAndPatientIdsDifferingOnlyByCase_WhenBothResolve_ThenTheyAreTwoPatients()
    {
        // A server whose token search ignores case (Medplum, the test server) answers MRN-X with the Patient of mrn-x;
        // the writer takes the one match without comparing its identifier to the message's.
        var client = fixture.Client();
        using var writer = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
        var lower = await writer.ResolveAsync(new MeasurementGroupKey(device + "-1", "mrn-" + device, null, null, "heartrate"), default);

        var upper = await writer.ResolveAsync(new MeasurementGroupKey(device + "-2", ("mrn-" + device).ToUpperInvariant(), null, null, "heartrate"), default);

        Assert.NotEqual(lower.PatientId, upper.PatientId);
    }

    [Fact]
    public async Task GivenLookupModeAndAMonitorWhoseIdDiffersOnlyByCase_WhenItsReadingResolves_ThenItIsNotChartedToTheOtherMonitorsPatient()
    {
        // Monitor "mon-x" is registered on patient A; monitor "MON-X" is not registered at all.
        var client = fixture.Client();
        var registered = await FhirServerFixture.RegisterAsync(client, device);
        using var writer = new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Lookup" });

        string? charted = null;
        try
        {
            charted = (await writer.ResolveAsync(new MeasurementGroupKey(device.ToUpperInvariant(), null, null, null, "heartrate"), default)).PatientId;
        }
        catch (TransformException ex)
        {
            Assert.Equal(FhirErrorCodes.DeviceNotFound, ex.Code);
        }

        Assert.NotEqual(registered.PatientId, charted);
    }
}
