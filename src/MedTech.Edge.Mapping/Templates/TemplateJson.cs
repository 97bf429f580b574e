using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Templates;

/// <summary>Reads mapping JSON with line information kept, so every error can say where it is.</summary>
internal static class TemplateJson
{
    private static readonly JsonLoadSettings LoadSettings = new()
    {
        LineInfoHandling = LineInfoHandling.Load,
        DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Error,
        CommentHandling = CommentHandling.Ignore,
    };

    /// <summary>Parses the text (a leading UTF-8 BOM is allowed); a syntax error is added to <paramref name="errors"/>.</summary>
    public static JToken? Parse(string text, List<TemplateError> errors)
    {
        try
        {
            using var reader = new JsonTextReader(new StringReader(text.TrimStart('\uFEFF')))
            {
                DateParseHandling = DateParseHandling.None,
            };
            var token = JToken.Load(reader, LoadSettings);
            if (reader.Read())
            {
                errors.Add(new TemplateError("Unexpected content after the end of the JSON document.", reader.LineNumber, reader.LinePosition));
            }

            return token;
        }
        catch (JsonReaderException ex)
        {
            errors.Add(new TemplateError($"The mapping is not valid JSON: {ex.Message}", ex.LineNumber, ex.LinePosition));
            return null;
        }
    }

    public static TemplateError ErrorAt(JToken token, string message, int? templateIndex = null)
    {
        var info = (IJsonLineInfo)token;
        return info.HasLineInfo()
            ? new TemplateError(message, info.LineNumber, info.LinePosition, templateIndex)
            : new TemplateError(message, TemplateIndex: templateIndex);
    }
}
