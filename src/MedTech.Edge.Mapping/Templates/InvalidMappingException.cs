namespace MedTech.Edge.Mapping.Templates;

/// <summary>Thrown when a mapping that must be valid (e.g. at module start) has errors; carries all of them.</summary>
public sealed class InvalidMappingException : Exception
{
    public InvalidMappingException(string source, IReadOnlyList<TemplateError> errors)
        : base($"The mapping '{source}' is invalid ({errors.Count} error(s)):{Environment.NewLine}" +
               string.Join(Environment.NewLine, errors.Select(e => "  " + e)))
    {
        MappingName = source;
        Errors = errors;
    }

    /// <summary>The file or name the mapping came from.</summary>
    public string MappingName { get; }

    public IReadOnlyList<TemplateError> Errors { get; }
}
