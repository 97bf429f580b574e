using MedTech.Edge.Mapping.Expressions;

namespace MedTech.Edge.Mapping.Templates;

/// <summary>One compiled device-mapping template.</summary>
public sealed class DeviceTemplate
{
    /// <summary>Position in the collection's <c>template</c> array, for error messages.</summary>
    public required int Index { get; init; }

    public required DeviceTemplateKind Kind { get; init; }

    public required string TypeName { get; init; }

    public required TemplateExpression TypeMatch { get; init; }

    public required TemplateExpression DeviceId { get; init; }

    /// <summary>Tried in order: the first that yields a time wins (IotJsonPathContent falls back to the enqueued time).</summary>
    public required IReadOnlyList<TemplateExpression> Timestamp { get; init; }

    public TemplateExpression? PatientId { get; init; }

    public TemplateExpression? EncounterId { get; init; }

    public TemplateExpression? CorrelationId { get; init; }

    public IReadOnlyList<DeviceValueTemplate> Values { get; init; } = [];

    /// <summary>CalculatedContent evaluates against the envelope with <c>matchedToken</c>; the others against the match.</summary>
    public bool UsesMatchedToken => Kind == DeviceTemplateKind.CalculatedContent;
}

/// <summary>One entry of a template's <c>values</c> array.</summary>
public sealed record DeviceValueTemplate(string ValueName, TemplateExpression ValueExpression, bool Required);
