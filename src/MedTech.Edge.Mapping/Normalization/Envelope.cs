using System.Globalization;
using System.Text;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>Builds the <c>{ Body, Properties, SystemProperties }</c> object every template runs against.</summary>
public static class Envelope
{
    public const string Body = "Body";
    public const string Properties = "Properties";
    public const string SystemProperties = "SystemProperties";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static JObject Create(JToken? body, IReadOnlyDictionary<string, string> properties, IReadOnlyDictionary<string, string> systemProperties) =>
        new()
        {
            [Body] = body ?? JValue.CreateNull(),
            [Properties] = ToObject(properties),
            [SystemProperties] = ToObject(systemProperties),
        };

    /// <summary>
    /// Parses a body. Empty means JSON null (as upstream); whitespace alone is not JSON (as upstream). Dates stay
    /// strings: Newtonsoft would otherwise turn them into host-time-zone values, the upstream defect we do not reproduce.
    /// </summary>
    /// <exception cref="FormatException">The body is not JSON, or has content after the JSON value.</exception>
    public static JToken? ParseBody(ReadOnlySpan<byte> body) => ParseBody(body, out _);

    /// <summary>
    /// As <see cref="ParseBody(ReadOnlySpan{byte})"/>. Bytes that are not UTF-8 become U+FFFD, as upstream reads them,
    /// and <paramref name="notUtf8"/> says so: the normalizer then refuses any id or value that holds a U+FFFD, so a
    /// corrupted byte never reaches a chart while the readings around it are charted as MedTech charted them.
    /// </summary>
    /// <exception cref="FormatException">The body is not JSON, or has content after the JSON value.</exception>
    public static JToken? ParseBody(ReadOnlySpan<byte> body, out bool notUtf8)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(body);
            notUtf8 = false;
        }
        catch (DecoderFallbackException)
        {
            text = Encoding.UTF8.GetString(body);
            notUtf8 = true;
        }

        return ParseText(text.TrimStart('\uFEFF'));
    }

    /// <summary>Parses JSON text with the same settings as <see cref="ParseBody(ReadOnlySpan{byte})"/>.</summary>
    /// <exception cref="FormatException">The text is not JSON, or has content after the JSON value.</exception>
    public static JToken? ParseText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return null;
        }

        // Upstream answers InvalidDataFormatException here too: blanks are a broken sender, not "no template matched".
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new FormatException("The message body holds only whitespace, not JSON.");
        }

        try
        {
            using var reader = new JsonTextReader(new StringReader(text))
            {
                DateParseHandling = DateParseHandling.None,
                FloatParseHandling = FloatParseHandling.Double,
                MaxDepth = 64,
            };
            var token = JToken.ReadFrom(reader);

            // Upstream stops after the first value and charts it. Trailing NULs and whitespace are skipped (fixed-size
            // device buffers); anything else is refused: two messages run together would lose the second unseen, and a
            // body with stray bytes after it is not one we can trust to be the one the device meant.
            if (reader.Read())
            {
                throw new FormatException($"The message body has content after the JSON value (line {reader.LineNumber}, position {reader.LinePosition}).");
            }

            return token;
        }
        catch (JsonReaderException ex)
        {
            // Newtonsoft's own message can quote payload text; say only where the JSON breaks.
            throw new FormatException($"The message body is not valid JSON (line {ex.LineNumber}, position {ex.LinePosition}).", ex);
        }
    }

    /// <summary>The envelope of <paramref name="message"/> around <paramref name="body"/>, typed values over text ones.</summary>
    public static JObject Create(JToken? body, DeviceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var envelope = Create(body, message.Properties, message.SystemProperties);
        Overlay((JObject)envelope[Properties]!, message.PropertyValues);
        Overlay((JObject)envelope[SystemProperties]!, message.SystemPropertyValues);
        return envelope;
    }

    /// <summary>
    /// A typed envelope value as JSON, as MedTech's envelope shows it (numbers as numbers, booleans, null), except that a
    /// time is ISO 8601 UTC text rather than a Date: times in the body stay text too (see <see cref="ParseText"/>), and
    /// a filter or a timestamp expression then reads both alike on every host.
    /// </summary>
    public static JToken ToToken(object? value) => value switch
    {
        null => JValue.CreateNull(),
        string text => new JValue(text),
        bool flag => new JValue(flag),
        ulong big => new JValue(big),
        sbyte or byte or short or ushort or int or uint or long => new JValue(Convert.ToInt64(value, CultureInfo.InvariantCulture)),

        // Through its shortest text, so 0.1f is 0.1 as MedTech prints it, not 0.100000001490116.
        float single => new JValue(double.Parse(single.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)),
        double number => new JValue(number),
        decimal number => new JValue(number),
        DateTimeOffset time => new JValue(time.UtcDateTime.ToString("o", CultureInfo.InvariantCulture)),
        DateTime time => new JValue(time.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture)),
        Guid id => new JValue(id.ToString("D", CultureInfo.InvariantCulture)),
        byte[] binary => new JValue(Convert.ToBase64String(binary)),
        _ => new JValue(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    private static void Overlay(JObject target, IReadOnlyDictionary<string, object?> values)
    {
        foreach (var (name, value) in values)
        {
            target[name] = ToToken(value);
        }
    }

    private static JObject ToObject(IReadOnlyDictionary<string, string> values)
    {
        var json = new JObject();
        foreach (var (name, value) in values)
        {
            json[name] = value;
        }

        return json;
    }
}
