namespace MedTech.Edge.Transform.Templates;

/// <summary>One entry of a template's <c>category</c>: becomes a CodeableConcept.</summary>
public sealed record FhirCategory(string? Text, IReadOnlyList<FhirCode> Codes);
