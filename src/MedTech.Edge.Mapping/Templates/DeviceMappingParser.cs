using MedTech.Edge.Mapping.Expressions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Templates;

/// <summary>Parses <c>CollectionContent</c> JSON exactly as MedTech accepts it, collecting every error.</summary>
internal static class DeviceMappingParser
{
    // Accepted spellings per type, compared case-insensitively; tried in upstream's factory order.
    private static readonly (DeviceTemplateKind Kind, string[] Names)[] TemplateTypes =
    [
        (DeviceTemplateKind.JsonPathContent, ["JsonPathContent", "JsonPathContentTemplate"]),
        (DeviceTemplateKind.IotJsonPathContent, ["IotJsonPathContent", "IotJsonPathContentTemplate"]),
        (DeviceTemplateKind.IotCentralJsonPathContent, ["IotCentralJsonPathContent"]),
        (DeviceTemplateKind.CalculatedContent, ["CalculatedContent"]),
    ];

    public static DeviceMapping Parse(string json)
    {
        var errors = new List<TemplateError>();
        var templates = new List<DeviceTemplate>();
        var root = TemplateJson.Parse(json, errors);
        if (root is not null && TemplateJson.Collection(root, ["CollectionContent", "CollectionContentTemplate"], errors) is { } children)
        {
            for (var index = 0; index < children.Count; index++)
            {
                if (ReadChild(children[index], index, errors) is { } template)
                {
                    templates.Add(template);
                }
            }
        }

        return new DeviceMapping(templates, errors);
    }

    private static DeviceTemplate? ReadChild(JToken child, int index, List<TemplateError> errors)
    {
        if (child is not JObject container)
        {
            errors.Add(TemplateJson.ErrorAt(child, "Each template entry must be an object with templateType and template.", index));
            return null;
        }

        var typeToken = container.GetValue("templateType", StringComparison.OrdinalIgnoreCase);
        var typeName = typeToken?.Type == JTokenType.String ? (string?)typeToken : null;
        var kind = TemplateTypes.Where(t => t.Names.Contains(typeName, StringComparer.OrdinalIgnoreCase))
            .Select(t => (DeviceTemplateKind?)t.Kind)
            .FirstOrDefault();
        if (kind is null)
        {
            errors.Add(TemplateJson.ErrorAt(typeToken ?? container, $"No match found for template type '{typeName ?? "(missing)"}'. " +
                "Expected CalculatedContent, JsonPathContent, IotJsonPathContent or IotCentralJsonPathContent.", index));
            return null;
        }

        if (container.GetValue("template", StringComparison.OrdinalIgnoreCase) is not JObject body)
        {
            errors.Add(TemplateJson.ErrorAt(container, $"The {kind} entry needs a 'template' object.", index));
            return null;
        }

        return new DeviceTemplateReader(new TemplateObjectReader(body, kind.Value.ToString(), index, errors), kind.Value, index).Read();
    }
}
