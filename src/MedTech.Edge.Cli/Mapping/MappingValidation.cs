using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Cli.Mapping;

/// <summary>Loads mappings and reports their errors the way compilers do: <c>file:line:position: error: message</c>.</summary>
internal sealed class MappingValidation(TextWriter output, TextWriter error)
{
    public int Validate(string? devicePath, string? fhirPath)
    {
        if (devicePath is null && fhirPath is null)
        {
            error.WriteLine("medtech: give --device-mapping, --fhir-mapping or both.");
            return MedTechCommand.UsageError;
        }

        var device = devicePath is null ? null : TryLoad(devicePath, DeviceMapping.Load, "device mapping");
        var fhir = fhirPath is null ? null : TryLoad(fhirPath, FhirMapping.Load, "FHIR mapping");
        if ((devicePath is not null && device is null) || (fhirPath is not null && fhir is null))
        {
            return MedTechCommand.UsageError;
        }

        var valid = true;
        if (device is not null)
        {
            valid &= Report(devicePath!, device.Errors, $"valid device mapping, {Describe(device.Templates.Select(t => $"{t.TypeName} ({t.Kind})"))}");
        }

        if (fhir is not null)
        {
            valid &= Report(fhirPath!, fhir.Errors, $"valid FHIR mapping, {Describe(fhir.Templates.Select(t => $"{t.TypeName} ({t.PeriodInterval}, {t.Value?.GetType().Name.Replace("ValueTemplate", "", StringComparison.Ordinal) ?? "components"})"))}");
        }

        if (valid && device is not null && fhir is not null)
        {
            foreach (var warning in MappingCoverage.Check(device, fhir))
            {
                output.WriteLine($"{(warning.InFhirMapping ? fhirPath : devicePath)}: warning: template[{warning.TemplateIndex}]: {warning.Message}");
            }
        }

        return valid ? MedTechCommand.Success : MedTechCommand.InputErrors;
    }

    /// <summary>Reads and parses the file; an unreadable file is reported and gives null.</summary>
    public T? TryLoad<T>(string path, Func<string, T> load, string what)
        where T : class
    {
        try
        {
            return load(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{path}: cannot read the {what}: {ex.Message}");
            return null;
        }
    }

    public static void ReportErrors(string path, IReadOnlyList<TemplateError> errors, TextWriter writer)
    {
        foreach (var e in errors)
        {
            var where = e.Line is null ? path : $"{path}:{e.Line}:{e.Position}";
            var template = e.TemplateIndex is null ? "" : $"template[{e.TemplateIndex}]: ";
            writer.WriteLine($"{where}: error: {template}{e.Message}");
        }

        writer.WriteLine($"{path}: {errors.Count} error(s).");
    }

    private bool Report(string path, IReadOnlyList<TemplateError> errors, string validText)
    {
        if (errors.Count > 0)
        {
            ReportErrors(path, errors, output);
            return false;
        }

        output.WriteLine($"{path}: {validText}.");
        return true;
    }

    private static string Describe(IEnumerable<string> templates)
    {
        var list = templates.ToList();
        return $"{list.Count} template(s){(list.Count > 0 ? ": " + string.Join(", ", list) : "")}";
    }
}
