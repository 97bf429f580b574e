using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist.Tests;

/// <summary>
/// Shadow mode (<see cref="ObservationShadow"/>) through the real FHIR test server: MedTech
/// wrote an Observation under the id our writer computes, but with other clinical content; the shadow must not call it matching.
/// </summary>
public sealed class ObservationShadowClinicalTests(FhirServerFixture fhir) : IClassFixture<FhirServerFixture>
{
    private readonly string device = "monitor-" + Guid.NewGuid().ToString("N")[..10];
    private static readonly DateTime Time = new(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc);

    // The stored Observation names an Encounter ours would not (e.g. MedTech ran LookupWithEncounter); a merge would keep it,
    // so the shadow compares what we would create from scratch, or a cut-over would silently drop encounters.
    [Fact]
    public async Task GivenAStoredObservationWithAnotherEncounter_WhenShadowCompares_ThenItDiffersOnEncounter()
    {
        var (measurements, mapping, computed) = Computed();
        computed.Encounter = new ResourceReference("Encounter/visit-medtech-linked");
        await fhir.Client().PutAsync(computed, null, default);

        var result = await CompareAsync(measurements, mapping);

        Assert.Equal((0, 1, 0), (result.Matching, result.Differing, result.Missing));
        Assert.Contains(result.Differences, d => d.Element == "encounter");
    }

    // The stored Observation's code (what MedTech's mapping coded it as) differs from what ours would code; the merge never
    // rewrites code, subject, device or identifier, so those are compared against a from-scratch Observation.
    [Fact]
    public async Task GivenAStoredObservationWithAnotherCode_WhenShadowCompares_ThenItDiffersOnCode()
    {
        var (measurements, mapping, computed) = Computed();
        computed.Code = new CodeableConcept("http://loinc.org", "8310-5", "Body temperature");
        await fhir.Client().PutAsync(computed, null, default);

        var result = await CompareAsync(measurements, mapping);

        Assert.Equal((0, 1, 0), (result.Matching, result.Differing, result.Missing));
        Assert.Contains(result.Differences, d => d.Element == "code");
    }

    /// <summary>One weight reading, and the Observation our writer would create for it (Create mode's hashed ids).</summary>
    private (List<Measurement> Measurements, FhirMapping Mapping, Observation Computed) Computed()
    {
        var measurements = new List<Measurement>
        {
            new() { Type = "weight", OccurrenceTimeUtc = Time, DeviceId = device, PatientId = "patient-" + device, Properties = [new MeasurementProperty("kg", "71.5")] },
        };
        var mapping = FhirMapping.Parse(FhirServerFixture.Mapping).EnsureValid("test mapping");
        var (observations, errors) = ObservationPreview.Create(measurements, mapping, null, DateTimeOffset.UtcNow);
        Assert.Empty(errors);
        return (measurements, mapping, Assert.Single(observations));
    }

    private Task<ShadowResult> CompareAsync(List<Measurement> measurements, FhirMapping mapping) =>
        ObservationShadow.CompareAsync(measurements, mapping, (group, _) => Task.FromResult<IReadOnlyList<IdentityPart>>(
            [new IdentityPart(IdentityResolver.DeterministicIds(group.Key.DeviceId, group.Key.PatientId!, null), group.Measurements)]),
            fhir.Client(), new PersistenceOptions(), default);
}
