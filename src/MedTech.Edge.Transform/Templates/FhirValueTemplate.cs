namespace MedTech.Edge.Transform.Templates;

/// <summary>
/// A template's <c>value</c> (or a component's): which measurement property it takes (<see cref="ValueName"/>)
/// and how it becomes <c>value[x]</c>.
/// </summary>
public abstract record FhirValueTemplate(string ValueName);

/// <summary>
/// <c>valueSampledData</c>: one slot per <see cref="DefaultPeriodMs"/> milliseconds across the Observation's period.
/// </summary>
public sealed record SampledDataValueTemplate(string ValueName, decimal DefaultPeriodMs, string? Unit) : FhirValueTemplate(ValueName);

/// <summary><c>valueQuantity</c> with the template's unit, system and code.</summary>
public sealed record QuantityValueTemplate(string ValueName, string? Unit, string? System, string? Code) : FhirValueTemplate(ValueName);

/// <summary><c>valueString</c>: the measured value as text.</summary>
public sealed record StringValueTemplate(string ValueName) : FhirValueTemplate(ValueName);

/// <summary>
/// <c>valueCodeableConcept</c> from the template's text and codes; the measured value only has to exist
/// (e.g. a "fall detected" flag).
/// </summary>
public sealed record CodeableConceptValueTemplate(string ValueName, string? Text, IReadOnlyList<FhirCode> Codes) : FhirValueTemplate(ValueName);
