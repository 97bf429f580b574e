using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Transform.Templates;

/// <summary>
/// A MedTech FHIR destination mapping (<c>CollectionFhir</c>): the templates that parsed, and every error found.
/// As for device mappings, valid templates are kept beside invalid siblings so a validator can show both;
/// a service must refuse a mapping with errors (<see cref="EnsureValid"/>).
/// </summary>
public sealed class FhirMapping
{
    private readonly Dictionary<string, CodeValueFhirTemplate> byType;

    internal FhirMapping(IReadOnlyList<CodeValueFhirTemplate> templates, IReadOnlyList<TemplateError> errors)
    {
        Templates = templates;
        Errors = errors;
        byType = new Dictionary<string, CodeValueFhirTemplate>(StringComparer.OrdinalIgnoreCase);
        foreach (var template in templates)
        {
            byType.TryAdd(template.TypeName, template);
        }
    }

    public IReadOnlyList<CodeValueFhirTemplate> Templates { get; }

    public IReadOnlyList<TemplateError> Errors { get; }

    public bool IsValid => Errors.Count == 0;

    public static FhirMapping Parse(string json) => FhirMappingParser.Parse(json);

    /// <summary>Reads and parses a mapping file; a file that cannot be read throws <see cref="IOException"/>.</summary>
    public static FhirMapping Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>Returns this mapping, or throws <see cref="InvalidMappingException"/> naming every error.</summary>
    public FhirMapping EnsureValid(string source) => IsValid ? this : throw new InvalidMappingException(source, Errors);

    /// <summary>The template for a measurement type, matched case-insensitively as upstream does.</summary>
    public CodeValueFhirTemplate? Find(string measurementType) => byType.GetValueOrDefault(measurementType);
}
