namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// Reason codes for messages that fail normalization, named as MedTech names them in its metrics and
/// diagnostic logs, so operators can search for the same words.
/// </summary>
public static class ErrorCodes
{
    /// <summary>The body is not JSON (or not UTF-8).</summary>
    public const string InvalidDataFormat = "InvalidDataFormatException";

    /// <summary>No template matched the message, so it produced no measurement (MedTech's "DroppedEvent").</summary>
    public const string DroppedEvent = "DroppedEvent";

    /// <summary>A required value is missing or empty, or a value could not be converted (e.g. a timestamp).</summary>
    public const string IncompatibleData = "IncompatibleDataException";

    /// <summary>An expression returned several tokens where one is expected, or a function failed.</summary>
    public const string TemplateExpression = "TemplateExpressionException";

    /// <summary>Any other failure while applying the mapping.</summary>
    public const string NormalizationDataMapping = "NormalizationDataMappingException";
}
