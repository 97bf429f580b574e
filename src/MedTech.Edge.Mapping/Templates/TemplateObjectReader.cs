using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Templates;

/// <summary>
/// Strict reading of one template object, as upstream deserializes them: member names match
/// case-insensitively, a missing required member and an unknown member are errors. Every error is
/// collected (with its line) rather than thrown, so a user sees all of them at once.
/// </summary>
internal sealed class TemplateObjectReader(JObject json, string kind, int? templateIndex, List<TemplateError> errors)
{
    private readonly HashSet<string> known = new(StringComparer.OrdinalIgnoreCase);
    private readonly int errorsBefore = errors.Count;

    /// <summary>Whether this object, or anything read after it (nested objects), had an error.</summary>
    public bool HasErrors => errors.Count > errorsBefore;

    /// <summary>A reader for a nested object (a value, an expression object) that reports into the same list.</summary>
    public TemplateObjectReader Fork(JObject nested, string what) => new(nested, $"{kind} {what}", templateIndex, errors);

    /// <summary>The member's value, or null when it is absent or JSON null (an error when required).</summary>
    public JToken? Member(string name, bool required)
    {
        known.Add(name);
        var value = json.Property(name, StringComparison.OrdinalIgnoreCase)?.Value;
        if (value is null || value.Type == JTokenType.Null)
        {
            if (required)
            {
                Error(json, $"Required member '{name}' is missing from the {kind} template.");
            }

            return null;
        }

        return value;
    }

    /// <summary>A non-empty string member; anything else is an error.</summary>
    public string? String(string name, bool required)
    {
        var value = Member(name, required);
        if (value is null)
        {
            return null;
        }

        if (value.Type != JTokenType.String || string.IsNullOrWhiteSpace((string?)value))
        {
            Error(value, $"Member '{name}' of the {kind} template must be a non-empty string.");
            return null;
        }

        return (string)value!;
    }

    /// <summary>An optional string member that may be empty (a unit, a display); anything but a string is an error.</summary>
    public string? Text(string name)
    {
        var value = Member(name, required: false);
        if (value is not null && value.Type != JTokenType.String)
        {
            Error(value, $"Member '{name}' of the {kind} template must be a string.");
            return null;
        }

        return (string?)value;
    }

    /// <summary>A boolean member; <c>"true"</c> and <c>"false"</c> strings are accepted as upstream accepts them.</summary>
    public bool Boolean(string name)
    {
        var value = Member(name, required: false);
        switch (value?.Type)
        {
            case null:
                return false;
            case JTokenType.Boolean:
                return (bool)value;
            case JTokenType.String when bool.TryParse((string?)value, out var parsed):
                return parsed;
            default:
                Error(value, $"Member '{name}' of the {kind} template must be true or false.");
                return false;
        }
    }

    /// <summary>Marks members that are accepted and ignored (upstream silently ignores them too).</summary>
    public void Ignore(params string[] names) => known.UnionWith(names);

    /// <summary>Reports every member that no <see cref="Member"/> call asked for.</summary>
    public void RejectUnknownMembers()
    {
        foreach (var property in json.Properties().Where(p => !known.Contains(p.Name)))
        {
            Error(property, $"Unknown member '{property.Name}' in the {kind} template.");
        }
    }

    public void Error(JToken at, string message) => errors.Add(TemplateJson.ErrorAt(at, message, templateIndex));
}
