using Hl7.Fhir.Model;
using MedTech.Edge.Transform.Templates;

namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// Builds an Observation from an observation group, and merges a group into a stored Observation, element by
/// element as upstream (<c>CodeValueFhirTemplateProcessor</c>, <c>MergeObservationImpl</c>) does.
/// </summary>
public static class ObservationFactory
{
    public static Observation Create(CodeValueFhirTemplate template, ObservationGroup group, ResourceIds ids, DateTimeOffset issued, ObservationLimits? limits = null)
    {
        limits ??= ObservationLimits.None;
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(ids);
        var identifier = ObservationIdentity.IdentifierValue(ids, group);
        var observation = new Observation
        {
            Id = ObservationIdentity.ObservationId(identifier),
            Identifier = [new Identifier(ObservationIdentity.System, identifier)],
            Status = ObservationStatus.Final,
            Code = Concept(group.Type, template.Codes),
            Category = Categories(template),
            Subject = new ResourceReference($"Patient/{ids.PatientId}"),
            Device = new ResourceReference($"Device/{ids.DeviceId}"),
            Effective = ObservationPeriod.Create(group.Start, group.End),
            Issued = issued,
        };
        if (ids.EncounterId is not null)
        {
            observation.Encounter = new ResourceReference($"Encounter/{ids.EncounterId}");
        }

        if (template.Value is { } value && group.ValuesOf(value.ValueName) is { Count: > 0 } values)
        {
            observation.Value = FhirValues.Create(value, values, group, limits);
        }

        foreach (var component in template.Components)
        {
            if (group.ValuesOf(component.Value.ValueName) is { Count: > 0 } componentValues)
            {
                observation.Component.Add(new Observation.ComponentComponent
                {
                    Code = Concept(component.Value.ValueName, component.Codes),
                    Value = FhirValues.Create(component.Value, componentValues, group, limits),
                });
            }
        }

        return observation;
    }

    /// <summary>
    /// The stored Observation with the group merged in, or null when that changes nothing (so nothing is written).
    /// A changed Observation gets status <c>amended</c>.
    /// </summary>
    public static Observation? Merge(Observation existing, CodeValueFhirTemplate template, ObservationGroup group, ObservationLimits? limits = null)
    {
        limits ??= ObservationLimits.None;
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(group);
        var period = ObservationPeriod.Read(existing.Effective);
        var merged = (Observation)existing.DeepCopy();
        merged.Category = Categories(template);
        if (template.Value is { } value && group.ValuesOf(value.ValueName) is { Count: > 0 } values)
        {
            merged.Value = existing.Value is null
                ? FhirValues.Create(value, values, group, limits)
                : FhirValues.Merge(existing.Value, period, value, values, group, limits);
        }

        foreach (var component in template.Components)
        {
            if (group.ValuesOf(component.Value.ValueName) is not { Count: > 0 } componentValues)
            {
                continue;
            }

            var stored = merged.Component.FirstOrDefault(c => c.Code?.Coding.Any(x =>
                x.System == ObservationIdentity.System && x.Code == component.Value.ValueName) == true);
            if (stored is null)
            {
                merged.Component.Add(new Observation.ComponentComponent
                {
                    Code = Concept(component.Value.ValueName, component.Codes),
                    Value = FhirValues.Create(component.Value, componentValues, group, limits),
                });
            }
            else
            {
                stored.Value = stored.Value is null
                    ? FhirValues.Create(component.Value, componentValues, group, limits)
                    : FhirValues.Merge(stored.Value, period, component.Value, componentValues, group, limits);
            }
        }

        merged.Effective = ObservationPeriod.Create(period.Start < group.Start ? period.Start : group.Start, period.End > group.End ? period.End : group.End);
        if (merged.IsExactly(existing))
        {
            return null;
        }

        merged.Status = ObservationStatus.Amended;
        return merged;
    }

    /// <summary>The template's codings, then the connector's own coding of <paramref name="name"/>; text is the name.</summary>
    private static CodeableConcept Concept(string name, IReadOnlyList<FhirCode> codes) => new()
    {
        Text = name,
        Coding = codes.Select(c => new Coding(c.System, c.Code, c.Display))
            .Append(new Coding(ObservationIdentity.System, name, name))
            .ToList(),
    };

    private static List<CodeableConcept> Categories(CodeValueFhirTemplate template) => template.Categories
        .Select(c => new CodeableConcept { Text = c.Text, Coding = c.Codes.Select(x => new Coding(x.System, x.Code, x.Display)).ToList() })
        .ToList();
}
