using System.Globalization;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Transform.Templates;

/// <summary>
/// Parses <c>CollectionFhir</c> JSON as MedTech accepts it, collecting every error with its line. Where upstream
/// accepts a template that later crashes at conversion (SampledData without <c>defaultPeriod</c>, a component
/// without <c>value</c>, an unsupported <c>periodInterval</c>), this parser reports it up front instead.
/// </summary>
internal static class FhirMappingParser
{
    private const string Kind = "CodeValueFhir";

    public static FhirMapping Parse(string json)
    {
        var errors = new List<TemplateError>();
        var templates = new List<CodeValueFhirTemplate>();
        var root = TemplateJson.Parse(json, errors);
        if (root is not null && TemplateJson.Collection(root, ["CollectionFhir", "CollectionFhirTemplate"], errors) is { } children)
        {
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var index = 0; index < children.Count; index++)
            {
                if (ReadChild(children[index], index, errors) is not { } template)
                {
                    continue;
                }

                if (!seen.Add(template.TypeName))
                {
                    errors.Add(TemplateJson.ErrorAt(children[index], $"Duplicate typeName '{template.TypeName}': another CodeValueFhir template already handles it.", index));
                    continue;
                }

                templates.Add(template);
            }
        }

        return new FhirMapping(templates, errors);
    }

    private static CodeValueFhirTemplate? ReadChild(JToken child, int index, List<TemplateError> errors)
    {
        if (child is not JObject container)
        {
            errors.Add(TemplateJson.ErrorAt(child, "Each template entry must be an object with templateType and template.", index));
            return null;
        }

        var typeToken = container.GetValue("templateType", StringComparison.OrdinalIgnoreCase);
        var typeName = typeToken?.Type == JTokenType.String ? (string?)typeToken : null;
        if (!string.Equals(typeName, "CodeValueFhir", StringComparison.OrdinalIgnoreCase)
            && !string.Equals(typeName, "CodeValueFhirTemplate", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(TemplateJson.ErrorAt(typeToken ?? container, $"No match found for template type '{typeName ?? "(missing)"}'. Expected CodeValueFhir.", index));
            return null;
        }

        if (container.GetValue("template", StringComparison.OrdinalIgnoreCase) is not JObject body)
        {
            errors.Add(TemplateJson.ErrorAt(container, "The CodeValueFhir entry needs a 'template' object.", index));
            return null;
        }

        return ReadTemplate(new TemplateObjectReader(body, Kind, index, errors), index);
    }

    private static CodeValueFhirTemplate? ReadTemplate(TemplateObjectReader reader, int index)
    {
        var typeName = reader.String("typeName", required: true);
        var codes = Codes(reader, "codes", required: true);
        var period = Period(reader);
        var categories = Objects(reader, "category", required: false, category =>
        {
            var result = new FhirCategory(category.Text("text"), Codes(category, "codes", required: false) ?? []);
            category.RejectUnknownMembers();
            return result;
        });
        var value = reader.Member("value", required: false) is { } valueToken ? Value(reader, valueToken, "value") : null;
        var components = Objects(reader, "components", required: false, component => Component(component));
        reader.RejectUnknownMembers();

        if (reader.HasErrors || typeName is null || codes is null)
        {
            return null;
        }

        return new CodeValueFhirTemplate
        {
            Index = index,
            TypeName = typeName,
            Codes = codes,
            PeriodInterval = period,
            Categories = categories ?? [],
            Value = value,
            Components = components ?? [],
        };
    }

    private static PeriodInterval Period(TemplateObjectReader reader)
    {
        var token = reader.Member("periodInterval", required: false);
        var text = token?.Type is JTokenType.Integer or JTokenType.String ? token.ToString() : null;
        if (token is null)
        {
            return PeriodInterval.Single;
        }

        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) && Enum.IsDefined((PeriodInterval)number))
        {
            return (PeriodInterval)number;
        }

        if (text is not null && !int.TryParse(text, out _) && Enum.TryParse<PeriodInterval>(text, ignoreCase: true, out var named))
        {
            return named;
        }

        reader.Error(token, $"Unsupported periodInterval '{token}'. Expected 0 (Single), 60 (Hourly), 1440 (Daily) or -1 (CorrelationId).");
        return PeriodInterval.Single;
    }

    private static FhirComponentTemplate? Component(TemplateObjectReader component)
    {
        var codes = Codes(component, "codes", required: true);
        var value = component.Member("value", required: true) is { } token ? Value(component, token, "component value") : null;
        component.RejectUnknownMembers();
        return codes is null || value is null ? null : new FhirComponentTemplate(codes, value);
    }

    /// <summary>A value object, picked by <c>valueType</c>; unknown members inside it are ignored, as upstream does.</summary>
    private static FhirValueTemplate? Value(TemplateObjectReader parent, JToken token, string what)
    {
        if (token is not JObject json)
        {
            parent.Error(token, $"The {what} must be an object with valueName and valueType.");
            return null;
        }

        var reader = parent.Fork(json, what);
        var name = reader.String("valueName", required: true);
        var type = reader.String("valueType", required: true);
        if (name is null || type is null)
        {
            return null;
        }

        switch (type.ToUpperInvariant())
        {
            case "SAMPLEDDATA":
                var period = reader.Member("defaultPeriod", required: true);
                if (period is null)
                {
                    return null;
                }

                if (period.Type is not (JTokenType.Integer or JTokenType.Float) || (decimal)period <= 0)
                {
                    reader.Error(period, "defaultPeriod of a SampledData value must be a positive number of milliseconds.");
                    return null;
                }

                return new SampledDataValueTemplate(name, (decimal)period, reader.Text("unit"));
            case "QUANTITY":
                return new QuantityValueTemplate(name, reader.Text("unit"), reader.Text("system"), reader.Text("code"));
            case "STRING":
                return new StringValueTemplate(name);
            case "CODEABLECONCEPT":
                return new CodeableConceptValueTemplate(name, reader.Text("text"), Codes(reader, "codes", required: false) ?? []);
            default:
                reader.Error(json, $"Unknown valueType '{type}'. Expected SampledData, Quantity, String or CodeableConcept.");
                return null;
        }
    }

    private static List<FhirCode>? Codes(TemplateObjectReader reader, string member, bool required) =>
        Objects(reader, member, required, code =>
        {
            var result = new FhirCode(code.Text("code"), code.Text("system"), code.Text("display"));
            code.RejectUnknownMembers();
            return result;
        });

    /// <summary>An array of objects, each read by <paramref name="read"/> with its own strict reader; entries with errors are left out.</summary>
    private static List<T>? Objects<T>(TemplateObjectReader reader, string member, bool required, Func<TemplateObjectReader, T?> read)
        where T : class
    {
        var token = reader.Member(member, required);
        if (token is null)
        {
            return null;
        }

        if (token is not JArray array)
        {
            reader.Error(token, $"Member '{member}' must be an array.");
            return null;
        }

        var items = new List<T>();
        foreach (var item in array)
        {
            if (item is JObject json)
            {
                if (read(reader.Fork(json, member)) is { } value)
                {
                    items.Add(value);
                }
            }
            else
            {
                reader.Error(item, $"Each entry of '{member}' must be an object.");
            }
        }

        return items;
    }
}
