using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Cli.Mapping;

/// <summary>Loads a device mapping and reports its errors the way compilers do: <c>file:line:position: message</c>.</summary>
internal sealed class MappingValidation(TextWriter output, TextWriter error)
{
    public int Validate(string path)
    {
        var mapping = TryLoad(path);
        if (mapping is null)
        {
            return MedTechCommand.UsageError;
        }

        if (!mapping.IsValid)
        {
            ReportErrors(path, mapping, output);
            return MedTechCommand.InputErrors;
        }

        var types = string.Join(", ", mapping.Templates.Select(t => $"{t.TypeName} ({t.Kind})"));
        output.WriteLine($"{path}: valid device mapping, {mapping.Templates.Count} template(s){(types.Length > 0 ? ": " + types : "")}.");
        return MedTechCommand.Success;
    }

    /// <summary>Reads and parses the file; an unreadable file is reported and gives null.</summary>
    public DeviceMapping? TryLoad(string path)
    {
        try
        {
            return DeviceMapping.Load(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{path}: cannot read the device mapping: {ex.Message}");
            return null;
        }
    }

    public static void ReportErrors(string path, DeviceMapping mapping, TextWriter writer)
    {
        foreach (var e in mapping.Errors)
        {
            var where = e.Line is null ? path : $"{path}:{e.Line}:{e.Position}";
            var template = e.TemplateIndex is null ? "" : $"template[{e.TemplateIndex}]: ";
            writer.WriteLine($"{where}: error: {template}{e.Message}");
        }

        writer.WriteLine($"{path}: {mapping.Errors.Count} error(s).");
    }
}
