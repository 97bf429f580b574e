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

    /// <summary>
    /// The <c>template</c> array of a collection mapping whose <c>templateType</c> is one of <paramref name="names"/>
    /// (case-insensitive; the first is the name used in messages), or null with the error added.
    /// </summary>
    public static JArray? Collection(JToken root, string[] names, List<TemplateError> errors)
    {
        if (root is not JObject rootObject)
        {
            errors.Add(ErrorAt(root, $"The mapping must be a JSON object with templateType {names[0]}."));
            return null;
        }

        var type = (string?)rootObject.GetValue("templateType", StringComparison.OrdinalIgnoreCase);
        if (!names.Contains(type, StringComparer.OrdinalIgnoreCase))
        {
            errors.Add(ErrorAt(root, $"Expected templateType {names[0]}, actual '{type ?? "(missing)"}'."));
            return null;
        }

        if (rootObject.GetValue("template", StringComparison.OrdinalIgnoreCase) is not JArray array)
        {
            errors.Add(ErrorAt(root, $"Expected an array for the template property of the {names[0]}."));
            return null;
        }

        return array;
    }

    public static TemplateError ErrorAt(JToken token, string message, int? templateIndex = null)
    {
        var info = (IJsonLineInfo)token;
        return info.HasLineInfo()
            ? new TemplateError(message, info.LineNumber, info.LinePosition, templateIndex)
            : new TemplateError(message, TemplateIndex: templateIndex);
    }
}
