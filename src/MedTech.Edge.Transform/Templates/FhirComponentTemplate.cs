namespace MedTech.Edge.Transform.Templates;

/// <summary>One entry of a template's <c>components</c>, e.g. the systolic part of a blood-pressure panel.</summary>
public sealed record FhirComponentTemplate(IReadOnlyList<FhirCode> Codes, FhirValueTemplate Value);
