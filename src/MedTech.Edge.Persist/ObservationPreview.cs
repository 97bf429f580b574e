using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist;

/// <summary>
/// The Observations a batch would create on an empty FHIR server in Create mode, built offline: Patient and Device
/// ids are the deterministic ones Create mode would give them. This is what <c>medtech mapping test</c> shows.
/// </summary>
public static class ObservationPreview
{
    // The writer's default limits, so a mapping test shows the ObservationTooLarge the writer would give.
    private static readonly ObservationLimits Limits = new PersistenceOptions().Limits;

    public static (IReadOnlyList<Observation> Observations, IReadOnlyList<PersistError> Errors) Create(
        IReadOnlyList<Measurement> measurements, FhirMapping mapping, string? deviceIdentifierSystem, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        var (pending, errors) = ObservationPlan.CreateAsync(MeasurementGrouper.Group(measurements), mapping, (group, _) => System.Threading.Tasks.Task.FromResult<IReadOnlyList<IdentityPart>>(
            string.IsNullOrEmpty(group.Key.PatientId)
                ? throw new TransformException(FhirErrorCodes.PatientIdentityNotDefined,
                    "Create mode needs a patient id, and the measurement has none (in Lookup mode the Patient comes from the Device on the FHIR server, which an offline test cannot read).")
                : [new IdentityPart(IdentityResolver.DeterministicIds(group.Key.DeviceId, group.Key.PatientId, deviceIdentifierSystem), group.Measurements)]), default).GetAwaiter().GetResult();
        var observations = new List<Observation>();
        foreach (var p in pending)
        {
            try
            {
                observations.AddRange(p.Build(null, now, Limits) is { } observation ? [observation] : []);
            }
            catch (TransformException ex)
            {
                ObservationPlan.Fail(p, ex.Code, ex.Message, errors);
            }
            catch (Exception ex) when (ObservationPlan.IsContained(ex, default))
            {
                ObservationPlan.Fail(p, FhirErrorCodes.ProcessingError, FhirErrorCodes.Describe("transform", ex), errors);
            }
        }

        return (observations, errors.Values.ToList());
    }
}
