using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist;

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

    /// <summary>Whether the Observation holds SampledData, whose samples a write adds to rather than replaces.</summary>
    public bool MergesSamples => SampledTemplates().Any();

    /// <summary>
    /// The newest of <paramref name="versions"/> (oldest first) with the samples merged back that a create replaced,
    /// or null when no create replaced another version (or the newest holds those samples already). A version with
    /// status <c>final</c> after the first is a create (the writer's merges are <c>amended</c>): two writers that both
    /// found the Observation missing both PUT it, and the later PUT drops the samples of the version before it. A
    /// clinician's amendment is no create, so what it removed stays removed.
    /// </summary>
    /// <exception cref="TransformException">The merged samples exceed <paramref name="limits"/> (or cannot be merged).</exception>
    public Observation? Reconcile(IReadOnlyList<Observation> versions, ObservationLimits limits)
    {
        Observation? result = null;
        for (var i = 1; i < versions.Count; i++)
        {
            if (versions[i].Status == ObservationStatus.Final)
            {
                result = ObservationFactory.Merge(result ?? versions[^1], template, SamplesOf(versions[i - 1]), limits) ?? result;
            }
        }

        return result;
    }

    /// <summary>An Observation's SampledData values as a group (its period, a value per filled slot), to merge into another.</summary>
    private ObservationGroup SamplesOf(Observation observation)
    {
        var (start, end) = ObservationPeriod.Read(observation.Effective);
        var values = new Dictionary<string, IReadOnlyList<TimedValue>>();
        foreach (var sampled in SampledTemplates())
        {
            var value = template.Value == sampled
                ? observation.Value
                : observation.Component.FirstOrDefault(c => c.Code?.Coding.Any(x => x.System == ObservationIdentity.System && x.Code == sampled.ValueName) == true)?.Value;
            if (value is SampledData data)
            {
                values[sampled.ValueName] = SampledDataCodec.Decode(data.Data, start, sampled.DefaultPeriodMs);
            }
        }

        return new ObservationGroup(template.TypeName, start, end, "", values);
    }

    private IEnumerable<SampledDataValueTemplate> SampledTemplates() =>
        new[] { template.Value }.Concat(template.Components.Select(c => c.Value)).OfType<SampledDataValueTemplate>();
}
