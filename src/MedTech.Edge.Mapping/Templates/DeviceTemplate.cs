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

    /// <summary>
    /// Whether some expression reads more than <c>matchedToken.…</c>, so the envelope must carry the match;
    /// when none does, every expression reads the match directly and nothing is copied.
    /// </summary>
    internal bool NeedsMatchedTokenInEnvelope => needsMatchedTokenInEnvelope ??= UsesMatchedToken &&
        new[] { DeviceId, PatientId, EncounterId, CorrelationId }.Concat(Timestamp).Concat(Values.Select(v => v.ValueExpression))
            .Any(e => e is not null && e.MatchedTokenPath is null);

    private bool? needsMatchedTokenInEnvelope;
}

/// <summary>One entry of a template's <c>values</c> array.</summary>
public sealed record DeviceValueTemplate(string ValueName, TemplateExpression ValueExpression, bool Required);
