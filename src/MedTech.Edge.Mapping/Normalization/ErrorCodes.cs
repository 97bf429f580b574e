namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// Reason codes for messages that fail normalization, named as MedTech names them in its metrics and
/// diagnostic logs, so operators can search for the same words.
/// </summary>
public static class ErrorCodes
{
    /// <summary>The body is not JSON (whitespace alone included), has content after its JSON value, or an id or value holds bytes that are not UTF-8.</summary>
    public const string InvalidDataFormat = "InvalidDataFormatException";

    /// <summary>No template matched the message, so it produced no measurement (MedTech's "DroppedEvent").</summary>
    public const string DroppedEvent = "DroppedEvent";

    /// <summary>
    /// A required value is missing or empty, or a value could not be converted (e.g. a timestamp); also data our
    /// limits refuse (<see cref="NormalizationLimits"/>): an implausible occurrence time, an id or value too long
    /// or not valid Unicode, a number that is not finite, too many measurements in one message. The mapping is
    /// fine and the data is not, which is what this code says to an operator.
    /// </summary>
    public const string IncompatibleData = "IncompatibleDataException";

    /// <summary>
    /// An expression returned several tokens where one is expected, or a function failed; also a message that ran
    /// out of time in its expressions (a regex time-out, or <see cref="NormalizationLimits.MaxTimePerMessage"/>).
    /// </summary>
    public const string TemplateExpression = "TemplateExpressionException";

    /// <summary>Any other failure while applying the mapping.</summary>
    public const string NormalizationDataMapping = "NormalizationDataMappingException";

    /// <summary>
    /// Every stage: an exception no message should cause (a bug not met yet) while handling this one; the reason names
    /// the stage and the exception type. The message is dead-lettered and the stage moves on.
    /// </summary>
    public const string ProcessingError = "ProcessingError";

    /// <summary>
    /// The gateway: a message from an authenticated device (or, from an external broker, a device's own topic) has a
    /// measurement of a device it is not allowed to report for. The whole message is dead-lettered, never written.
    /// </summary>
    public const string DeviceIdentityMismatch = "DeviceIdentityMismatch";

    /// <summary>Every stage: the process died twice with this message in hand, the second time with it alone; it is not tried again.</summary>
    public const string Poison = "Poison";
}
