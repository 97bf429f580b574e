namespace MedTech.Edge.Mapping.Templates;

/// <summary>
/// A MedTech device mapping (<c>CollectionContent</c>): the templates that parsed, and every error found.
/// As upstream, the valid templates are kept even when a sibling is invalid, so a validator can show both;
/// a service must refuse a mapping with errors (<see cref="EnsureValid"/>).
/// </summary>
public sealed class DeviceMapping
{
    internal DeviceMapping(IReadOnlyList<DeviceTemplate> templates, IReadOnlyList<TemplateError> errors)
    {
        Templates = templates;
        Errors = errors;
    }

    public IReadOnlyList<DeviceTemplate> Templates { get; }

    public IReadOnlyList<TemplateError> Errors { get; }

    public bool IsValid => Errors.Count == 0;

    public static DeviceMapping Parse(string json) => DeviceMappingParser.Parse(json);

    /// <summary>Reads and parses a mapping file; a file that cannot be read throws <see cref="IOException"/>.</summary>
    public static DeviceMapping Load(string path) => Parse(File.ReadAllText(path));

    /// <summary>Returns this mapping, or throws <see cref="InvalidMappingException"/> naming every error.</summary>
    public DeviceMapping EnsureValid(string source) => IsValid ? this : throw new InvalidMappingException(source, Errors);
}
