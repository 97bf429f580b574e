using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Tests;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging.Abstractions;
using static MedTech.Edge.Persist.Tests.Profiles.BundledMappings;

namespace MedTech.Edge.Persist.Tests.Profiles;

/// <summary>
/// The bundled mappings through the real writer path (ObservationPersister, Create mode) into the real FHIR test
/// server: what the server stores is read back and validated, so no invalid resource reaches it, values at the ends
/// of the range included.
/// </summary>
[Collection(FhirServerGroup.Name)]
public class BundledMappingServerTests(FhirServerFixture fixture)
{
    private readonly string run = "mdc-" + Guid.NewGuid().ToString("N")[..10] + "-";

    /// <summary>
    /// Values at the ends of the range for the vital-signs mapping: field, raw JSON value. Not here: decimal.MaxValue
    /// (79228162514264337593543950335) is a valid Observation and is written, but the test server keeps JSON numbers as
    /// doubles, returns 7.922816251426434e+28, which exceeds decimal.MaxValue, and Firely cannot read the stored
    /// Observation back (open finding for the writer's Quantity parsing; 1e28 round-trips, see below).
    /// </summary>
    private static readonly (string Field, string Value)[] Edges =
    [
        ("heartRate", "0"), ("heartRate", "-1"), ("heartRate", "0.000001"), ("heartRate", "1e28"), ("heartRate", "1e400"),
        ("heartRate", "\"NaN\""), ("spo2", "101"), ("respiratoryRate", "-0.0"), ("temperature", "-273.15"),
        ("systolic", "999999999"), ("systolic", "-5"), ("diastolic", "0"),
    ];

    [Theory]
    [InlineData("vital-signs")]
    [InlineData("bedside-monitor")]
    public async System.Threading.Tasks.Task GivenABundledMapping_WhenItsMessagesArePersistedToTheFhirServer_ThenEveryStoredObservationValidatesAgainstItsProfile(string name)
    {
        var set = Named(name);
        var measurements = set.Messages.SelectMany(m => Normalize(set, File.ReadAllBytes(m)).Measurements).ToList();
        if (set == VitalSignsSet)
        {
            // Each edge case at its own second, so none shares an Observation with another.
            measurements.AddRange(Edges.SelectMany((e, i) => Normalize(set, VitalSignsMessage(e.Field, e.Value, "monitor-edge", i)).Measurements));
        }

        measurements = measurements.Select(m => m with { DeviceId = run + m.DeviceId, PatientId = run + m.PatientId }).ToList();
        var (expected, expectedErrors) = BundledMappings.Transform(set, measurements);
        Assert.NotEmpty(expected);

        var client = fixture.Client();
        using var persister = new ObservationPersister(client, new IdentityResolver(client, new ResourceIdentityOptions { ResourceIdentityServiceType = "Create" }),
            FhirMappingOf(set), new PersistenceOptions(), NullLogger<ObservationPersister>.Instance);
        var result = await persister.PersistAsync(measurements, default);

        Assert.Equal(expected.Count, result.Created);
        Assert.Equal(expectedErrors.Order(), result.Errors.Select(e => e.Code).Order());
        var stored = new List<Observation>();
        foreach (var patient in measurements.Select(m => m.PatientId).OfType<string>().Distinct())
        {
            var ids = IdentityResolver.DeterministicIds("unused", patient, null);
            stored.AddRange(await client.SearchAsync<Observation>($"Observation?subject=Patient/{ids.PatientId}&_count=1000", default));
        }

        Assert.Equal(expected.Select(o => o.Id).Order(), stored.Select(o => o.Id).Order());
        foreach (var observation in stored)
        {
            var errors = ProfileValidator.ObservationErrors(observation);
            Assert.True(errors.Count == 0, $"{observation.Code.Text}:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}");
            var sent = expected.Single(o => o.Id == observation.Id);
            Assert.Equal(Values(sent), Values(observation));
        }
    }

    private static IEnumerable<decimal?> Values(Observation observation) =>
        new[] { observation.Value }.Concat(observation.Component.Select(c => c.Value)).OfType<Quantity>().Select(q => q.Value);
}
