namespace MedTech.Edge.Transform.Templates;

/// <summary>One entry of a template's <c>codes</c>: becomes a FHIR Coding as written.</summary>
public sealed record FhirCode(string? Code, string? System, string? Display);
