using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Transform.Templates;

/// <summary>A mismatch between a device mapping and a FHIR mapping that is legal but almost surely a mistake.</summary>
public sealed record MappingWarning(bool InFhirMapping, int TemplateIndex, string Message);

/// <summary>
/// Checks that a device mapping and a FHIR mapping fit together: every measurement type has a FHIR template
/// (otherwise its measurements fail with TemplateNotFoundException), and every value a FHIR template reads is one
/// some device template of that type produces (otherwise that value is silently never written).
/// </summary>
public static class MappingCoverage
{
    public static IReadOnlyList<MappingWarning> Check(DeviceMapping device, FhirMapping fhir)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(fhir);
        var warnings = new List<MappingWarning>();
        foreach (var template in device.Templates.DistinctBy(t => t.TypeName, StringComparer.OrdinalIgnoreCase))
        {
            if (fhir.Find(template.TypeName) is null)
            {
                warnings.Add(new(false, template.Index, $"Type '{template.TypeName}' has no CodeValueFhir template; its measurements would fail with TemplateNotFoundException."));
            }
        }

        foreach (var template in fhir.Templates)
        {
            var producers = device.Templates.Where(t => string.Equals(t.TypeName, template.TypeName, StringComparison.OrdinalIgnoreCase)).ToList();
            if (producers.Count == 0)
            {
                warnings.Add(new(true, template.Index, $"No device template produces type '{template.TypeName}'; this template is never used."));
                continue;
            }

            var produced = producers.SelectMany(t => t.Values).Select(v => v.ValueName).ToHashSet(StringComparer.Ordinal);
            foreach (var valueName in template.ValueNames.Where(v => !produced.Contains(v)))
            {
                warnings.Add(new(true, template.Index, $"Value '{valueName}' of type '{template.TypeName}' is produced by no device template; it would never be written."));
            }
        }

        return warnings;
    }
}
