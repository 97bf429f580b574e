using System.Globalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>How extracted tokens become measurement strings and times, matching the MedTech service.</summary>
internal static class TokenValues
{
    /// <summary>
    /// The string MedTech stores for a value, or null for JSON null. Booleans are "True"/"False" and
    /// floating-point numbers have 15 significant digits, as the MedTech service writes them (its Mapping
    /// debugger shows 30.6 / 1.0936 as "27.9809802487198"). Objects and arrays are not values, nor are the
    /// infinities and NaN that Newtonsoft reads from 1e400 or its NaN / Infinity literals: no FHIR value holds them.
    /// </summary>
    public static string? ToText(JToken token) => token.Type switch
    {
        JTokenType.Null or JTokenType.Undefined => null,
        JTokenType.String => (string?)token,
        JTokenType.Float => double.IsFinite((double)token)
            ? ((double)token).ToString("G15", CultureInfo.InvariantCulture)
            : throw new IncompatibleDataException("the number is not finite (beyond the range of a double, or NaN)"),
        JTokenType.Boolean => (bool)token ? "True" : "False",
        JTokenType.Date => UtcTime.ToText(ToUtc(token)),
        JTokenType.Object or JTokenType.Array => throw new IncompatibleDataException($"expected a single value but found a JSON {token.Type.ToString().ToLowerInvariant()}"),
        _ => Convert.ToString(((JValue)token).Value, CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A timestamp in UTC. Strings are parsed with the invariant culture; one without an offset is UTC (upstream
    /// would take the host's time zone). Numbers are refused: use fromUnixTimestamp / fromUnixTimestampMs.
    /// </summary>
    public static DateTime ToUtc(JToken token)
    {
        switch (token.Type)
        {
            case JTokenType.Date when ((JValue)token).Value is DateTimeOffset offset:
                return offset.UtcDateTime;
            case JTokenType.Date:
                var date = (DateTime)token;
                return date.Kind == DateTimeKind.Local ? date.ToUniversalTime() : DateTime.SpecifyKind(date, DateTimeKind.Utc);
            case JTokenType.String when DateTimeOffset.TryParse(
                (string?)token, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed):
                return parsed.UtcDateTime;
            case JTokenType.Integer or JTokenType.Float:
                throw new IncompatibleDataException("a number is not a timestamp; convert it with fromUnixTimestamp or fromUnixTimestampMs (JMESPath)");
            default:
                throw new IncompatibleDataException($"the {token.Type.ToString().ToLowerInvariant()} value is not a recognised date and time");
        }
    }
}
