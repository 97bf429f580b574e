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
    /// Parses a body. Empty means JSON null (as upstream). Dates stay strings: Newtonsoft would otherwise turn
    /// them into host-time-zone values, the upstream defect we do not reproduce.
    /// </summary>
    /// <exception cref="FormatException">The body is not UTF-8 JSON, or has content after the JSON value.</exception>
    public static JToken? ParseBody(ReadOnlySpan<byte> body)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(body).TrimStart('\uFEFF');
        }
        catch (DecoderFallbackException ex)
        {
            throw new FormatException("The message body is not valid UTF-8.", ex);
        }

        return ParseText(text);
    }

    /// <summary>Parses JSON text with the same settings as <see cref="ParseBody"/>.</summary>
    public static JToken? ParseText(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
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
