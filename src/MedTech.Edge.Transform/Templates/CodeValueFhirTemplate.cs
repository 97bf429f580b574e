namespace MedTech.Edge.Transform.Templates;

/// <summary>One <c>CodeValueFhir</c> template: how measurements of <see cref="TypeName"/> become Observations.</summary>
public sealed record CodeValueFhirTemplate
{
    /// <summary>Position in the collection's <c>template</c> array, for error messages.</summary>
    public required int Index { get; init; }

    /// <summary>The measurement type this template handles, matched case-insensitively.</summary>
    public required string TypeName { get; init; }

    public required IReadOnlyList<FhirCode> Codes { get; init; }

    public PeriodInterval PeriodInterval { get; init; }

    public IReadOnlyList<FhirCategory> Categories { get; init; } = [];

    public FhirValueTemplate? Value { get; init; }

    public IReadOnlyList<FhirComponentTemplate> Components { get; init; } = [];

    /// <summary>Every value name the template reads: its value's, then its components' in order.</summary>
    public IEnumerable<string> ValueNames =>
        (Value is null ? [] : new[] { Value.ValueName }).Concat(Components.Select(c => c.Value.ValueName));
}
