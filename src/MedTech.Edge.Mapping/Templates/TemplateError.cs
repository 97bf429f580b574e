namespace MedTech.Edge.Mapping.Templates;

/// <summary>
/// One problem found in a mapping file, with where it is: the 1-based JSON line and position, and the
/// 0-based index of the template in the collection's <c>template</c> array (null for the root).
/// </summary>
public sealed record TemplateError(string Message, int? Line = null, int? Position = null, int? TemplateIndex = null)
{
    public override string ToString()
    {
        var where = Line is null ? "" : $"line {Line}, position {Position}: ";
        var template = TemplateIndex is null ? "" : $"template[{TemplateIndex}]: ";
        return where + template + Message;
    }
}
