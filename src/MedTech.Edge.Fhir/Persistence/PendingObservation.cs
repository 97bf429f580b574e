using Hl7.Fhir.Model;
using MedTech.Edge.Fhir.Observations;
using MedTech.Edge.Fhir.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Fhir.Persistence;

/// <summary>One Observation a batch touches: the observation groups that go into it and the measurement groups they came from.</summary>
internal sealed class PendingObservation(string id, CodeValueFhirTemplate template, ResourceIds ids)
{
    public string Id { get; } = id;

    public List<ObservationGroup> Groups { get; } = [];

    public List<MeasurementGroup> Sources { get; } = [];

    /// <summary>The measurements that go into this Observation (its Provenance names their times and hub messages).</summary>
    public List<Measurement> Measurements { get; } = [];

    /// <param name="part">The measurements of <paramref name="source"/> planned with this Observation's Patient; those in the group's window are this Observation's.</param>
    public void Add(ObservationGroup group, MeasurementGroup source, MeasurementGroup part)
    {
        Groups.Add(group);
        Measurements.AddRange(part.Measurements.Where(m => m.OccurrenceTimeUtc >= group.Start && m.OccurrenceTimeUtc <= group.End));
        if (!Sources.Contains(source))
        {
            Sources.Add(source);
        }
    }

    /// <summary>
    /// The Observation to write, built from <paramref name="stored"/> (null when the server has none), or null when
    /// the batch changes nothing. New Observations are <c>final</c>; changed stored ones are <c>amended</c>.
    /// </summary>
    public Observation? Build(Observation? stored, DateTimeOffset now, ObservationLimits limits)
    {
        var current = stored;
        var changed = false;
        foreach (var group in Groups)
        {
            var next = current is null ? ObservationFactory.Create(template, group, ids, now, limits) : ObservationFactory.Merge(current, template, group, limits);
            changed |= next is not null;
            current = next ?? current;
        }

        if (stored is null && current is not null)
        {
            current.Status = ObservationStatus.Final;
        }

        return changed ? current : null;
    }
}
