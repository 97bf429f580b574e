using System.Net;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Persist.Tests;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Transform;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests.Identity;

/// <summary>
/// Create mode's Patient and Device writes are conditional (If-None-Exist on the identifier), through the real FHIR
/// server: writers racing to create one identifier get one resource between them, and a writer that lost the race for
/// a Device never re-links it to its own patient.
/// </summary>
[Collection(FhirServerGroup.Name)]
public class ConditionalCreateTests(FhirServerFixture fixture)
{
    private readonly string run = Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task GivenEightConcurrentConditionalCreatesOfOneIdentifier_WhenTheyRace_ThenTheServerHoldsOneResourceAndEveryCallerGetsIt()
    {
        var client = fixture.Client();
        var value = "mrn-" + run;

        var made = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => client.CreateAsync(
            new Patient { Identifier = [new Identifier("urn:test:mrn", value)], BirthDate = $"19{50 + i}" }, $"identifier={Uri.EscapeDataString("urn:test:mrn|" + value)}", default)));

        var stored = Assert.Single(await client.SearchAsync<Patient>($"Patient?identifier={Uri.EscapeDataString("urn:test:mrn|" + value)}", default));
        Assert.All(made, p => Assert.Equal(stored.Id, p.Id));
        Assert.Single(await client.HistoryAsync<Patient>($"Patient/{stored.Id}/_history", default));
    }

    [Fact]
    public async Task GivenTwoResourcesWithTheIdentifier_WhenAConditionalCreateNamesIt_ThenTheServerRefusesWith412AndCreatesNothing()
    {
        var client = fixture.Client();
        var value = "twice-" + run;
        await client.PutAsync(new Patient { Id = "one-" + run, Identifier = [new Identifier(null, value)] }, null, default);
        await client.PutAsync(new Patient { Id = "two-" + run, Identifier = [new Identifier(null, value)] }, null, default);

        var refused = await Assert.ThrowsAsync<FhirRequestException>(() => client.CreateAsync(new Patient { Identifier = [new Identifier(null, value)] }, $"identifier={value}", default));

        Assert.Equal(HttpStatusCode.PreconditionFailed, refused.Status);
        Assert.Equal(2, (await client.SearchAsync<Patient>($"Patient?identifier={value}", default)).Count);
    }

    [Theory]
    [InlineData("plain")]
    // Search escapes (FHIR's \, \$ \\). Not '|' inside a value: Medplum's token match splits on every '|' (a test-server limit).
    [InlineData("a,b$c\\d")]
    [InlineData("nul\0and \u00e9\u4e2d")]
    public async Task GivenWritersRacingToCreateOneDeviceAndPatient_WhenTheyResolveAtOnce_ThenOnePatientAndOneDeviceExist(string shape)
    {
        var device = $"{shape}-dev-{run}";
        var patient = $"{shape}-pat-{run}";
        var key = new MeasurementGroupKey(device, patient, null, null, "heartrate");

        // Six writers, each with its own resolver (its own cache), as six writer processes are.
        var resolved = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            using var writer = new IdentityResolver(fixture.Client(), new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
            return await writer.ResolveAsync(key, default);
        }));

        var client = fixture.Client();
        var storedPatient = Assert.Single(await client.SearchAsync<Patient>($"Patient?identifier={Token(null, patient)}", default));
        var storedDevice = Assert.Single(await client.SearchAsync<Device>($"Device?identifier={Token(null, device)}", default));
        Assert.Equal(patient, storedPatient.Identifier.Single().Value);
        Assert.Equal($"Patient/{storedPatient.Id}", storedDevice.Patient!.Reference);
        Assert.All(resolved, ids => Assert.Equal((storedPatient.Id, storedDevice.Id), (ids.PatientId, ids.DeviceId)));
        // Made once and never written over by a writer that lost the race.
        Assert.Single(await client.HistoryAsync<Patient>($"Patient/{storedPatient.Id}/_history", default));
        Assert.Single(await client.HistoryAsync<Device>($"Device/{storedDevice.Id}/_history", default));
    }

    [Fact]
    public async Task GivenTwoWritersCreatingOneDeviceForDifferentPatients_WhenTheyRace_ThenTheFirstLinkStandsAndTheOtherIsAMismatch()
    {
        var device = "contested-" + run;
        var patients = new[] { "first-" + run, "second-" + run };

        var outcomes = await Task.WhenAll(patients.Select(async patient =>
        {
            using var writer = new IdentityResolver(fixture.Client(), new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
            try
            {
                return (patient, ids: await writer.ResolveAsync(new MeasurementGroupKey(device, patient, null, null, "heartrate"), default), code: (string?)null);
            }
            catch (TransformException ex)
            {
                return (patient, ids: (MedTech.Edge.Transform.Observations.ResourceIds?)null, code: ex.Code);
            }
        }));

        var client = fixture.Client();
        var stored = Assert.Single(await client.SearchAsync<Device>($"Device?identifier={device}", default));
        var linked = Assert.Single(await client.SearchAsync<Patient>($"Patient?_id={stored.Patient!.Reference!["Patient/".Length..]}", default)).Identifier.Single().Value;
        // Only the writer whose patient the Device names wrote through it; the other was refused, never re-linked it.
        Assert.Single(await client.HistoryAsync<Device>($"Device/{stored.Id}/_history", default));
        Assert.Equal(linked, Assert.Single(outcomes, o => o.code is null).patient);
        Assert.Equal(FhirErrorCodes.PatientDeviceMismatch, Assert.Single(outcomes, o => o.code is not null).code);
    }

    [Fact]
    public async Task GivenADeviceWithoutAPatient_WhenTwoWritersLinkItToDifferentPatientsAtOnce_ThenOneLinkIsMadeAndTheOtherIsAMismatch()
    {
        var device = "unlinked-" + run;
        var client = fixture.Client();
        await client.PutAsync(new Device { Id = "d-" + device, Identifier = [new Identifier(null, device)] }, null, default);
        var patients = new[] { "left-" + run, "right-" + run };

        var codes = await Task.WhenAll(patients.Select(async patient =>
        {
            using var writer = new IdentityResolver(fixture.Client(), new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" });
            try
            {
                await writer.ResolveAsync(new MeasurementGroupKey(device, patient, null, null, "heartrate"), default);
                return (patient, code: (string?)null);
            }
            catch (TransformException ex)
            {
                return (patient, code: ex.Code);
            }
        }));

        var stored = Assert.Single(await client.SearchAsync<Device>($"Device?identifier={device}", default));
        // The registration's version and one link (If-Match): the loser re-read the Device instead of writing over the link.
        Assert.Equal(2, (await client.HistoryAsync<Device>($"Device/{stored.Id}/_history", default)).Count);
        var linked = Assert.Single(await client.SearchAsync<Patient>($"Patient?_id={stored.Patient!.Reference!["Patient/".Length..]}", default)).Identifier.Single().Value;
        Assert.Equal(linked, Assert.Single(codes, c => c.code is null).patient);
        Assert.Equal(FhirErrorCodes.PatientDeviceMismatch, Assert.Single(codes, c => c.code is not null).code);
    }

    [Fact]
    public async Task GivenAPatientIdentifierSystem_WhenCreateModeResolves_ThenItSearchesAndCreatesUnderThatSystemOnly()
    {
        var client = fixture.Client();
        var patient = "mrn-sys-" + run;
        // The same value under another system is another patient (another hospital's number), not this one.
        await client.PutAsync(new Patient { Id = "other-" + run, Identifier = [new Identifier("urn:other:mrn", patient)] }, null, default);
        var options = new ResourceIdentityOptions { ResourceIdentityServiceType = "Create", DefaultPatientIdentifierSystem = "urn:ours:mrn" };
        using var writer = new IdentityResolver(client, options);

        var ids = await writer.ResolveAsync(new MeasurementGroupKey("dev-sys-" + run, patient, null, null, "heartrate"), default);

        var ours = Assert.Single(await client.SearchAsync<Patient>($"Patient?identifier={Token("urn:ours:mrn", patient)}", default));
        Assert.Equal(ours.Id, ids.PatientId);
        Assert.NotEqual("other-" + run, ids.PatientId);
        Assert.Equal(("urn:ours:mrn", patient), (ours.Identifier.Single().System, ours.Identifier.Single().Value));
        Assert.Equal(IdentityResolver.DeterministicIds("dev-sys-" + run, patient, null, "urn:ours:mrn").PatientId, ids.PatientId);
    }

    private static string Token(string? system, string value)
    {
        var escaped = value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal)
            .Replace(",", "\\,", StringComparison.Ordinal).Replace("$", "\\$", StringComparison.Ordinal);
        return Uri.EscapeDataString(system is null ? escaped : $"{system}|{escaped}");
    }
}
