using System.Globalization;
using System.Text;

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

    /// <summary>
    /// An event from an Event Hub names one system property (e.g. <c>iothub-connection-device-id</c>) twice among its
    /// headers: a device is setting IoT Hub's own property, so the message is refused rather than either value believed.
    /// </summary>
    public const string DuplicateSystemProperty = "DuplicateSystemProperty";

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

    /// <summary>
    /// A dead letter's reason from a message's errors, the one summary the gateway and the cloud writer both store: the
    /// first <paramref name="first"/> messages and, when there are more, how many there were in all, at most
    /// <paramref name="maxLength"/> characters. A message can fail every template or every value (10,000 errors).
    /// </summary>
    public static string Summarize(IReadOnlyCollection<NormalizationError> errors, int maxLength, int first = 3)
    {
        ArgumentNullException.ThrowIfNull(errors);
        ArgumentOutOfRangeException.ThrowIfLessThan(first, 1);
        var reason = new StringBuilder();
        foreach (var error in errors.Take(first))
        {
            reason.Append(reason.Length == 0 ? "" : " | ").Append(Bound(error.Message, maxLength / first));
        }

        if (errors.Count > first)
        {
            reason.Append(CultureInfo.InvariantCulture, $" | … {errors.Count} errors in all");
        }

        return Bound(reason.ToString(), maxLength);
    }

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="max"/> characters, saying how much was cut, never between
    /// the two halves of a surrogate pair.
    /// </summary>
    public static string Bound(string text, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length <= max)
        {
            return text;
        }

        var cut = Math.Max(0, max - 32);
        if (cut > 0 && char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        var note = $"… (+{text.Length - cut} chars)";
        return string.Concat(text.AsSpan(0, cut), note.AsSpan(0, Math.Min(note.Length, max - cut)));
    }
}
