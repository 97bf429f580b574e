namespace MedTech.Edge.Mapping.Normalization;

/// <summary>Why a message (or one match in it) could not be normalized. Never contains payload values.</summary>
public sealed record NormalizationError(string Code, string Message, int? TemplateIndex = null, string? TypeName = null);
