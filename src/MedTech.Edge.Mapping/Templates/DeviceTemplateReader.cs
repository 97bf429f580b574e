using MedTech.Edge.Mapping.Expressions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Templates;

/// <summary>Reads the inner <c>template</c> object of one device-mapping entry, with the members its type allows.</summary>
internal sealed class DeviceTemplateReader(TemplateObjectReader reader, DeviceTemplateKind kind, int index)
{
    private const string IotDeviceId = "$.SystemProperties.iothub-connection-device-id";
    private const string IotCreationTime = "$.Properties.iothub-creation-time-utc";
    private const string IotEnqueuedTime = "$.SystemProperties.iothub-enqueuedtime";

    private ExpressionLanguage defaultLanguage = ExpressionLanguage.JsonPath;

    private bool IsCalculated => kind == DeviceTemplateKind.CalculatedContent;

    public DeviceTemplate? Read()
    {
        if (IsCalculated)
        {
            defaultLanguage = ReadLanguage(reader.Member("defaultExpressionLanguage", required: false)) ?? ExpressionLanguage.JsonPath;
        }

        var typeName = reader.String("typeName", required: true);
        var typeMatch = Expression(reader, "typeMatchExpression", required: true);
        var (deviceId, timestamp) = kind switch
        {
            DeviceTemplateKind.IotJsonPathContent => FixedFields(IotDeviceId, IotCreationTime, IotEnqueuedTime),
            DeviceTemplateKind.IotCentralJsonPathContent => FixedFields("$.deviceId", "$.enqueuedTime"),
            _ => (Expression(reader, "deviceIdExpression", required: true), Expression(reader, "timestampExpression", required: true) is { } t ? [t] : []),
        };
        var patientId = Expression(reader, "patientIdExpression", required: false);
        var encounterId = Expression(reader, "encounterIdExpression", required: false);
        var correlationId = Expression(reader, "correlationIdExpression", required: false);
        var values = Values();
        reader.RejectUnknownMembers();

        if (reader.HasErrors || typeName is null || typeMatch is null || deviceId is null || timestamp.Count == 0)
        {
            return null;
        }

        return new DeviceTemplate
        {
            Index = index,
            Kind = kind,
            TypeName = typeName,
            TypeMatch = typeMatch,
            DeviceId = deviceId,
            Timestamp = timestamp,
            PatientId = patientId,
            EncounterId = encounterId,
            CorrelationId = correlationId,
            Values = values,
        };
    }

    /// <summary>IoT Hub and IoT Central templates read identity and time from fixed places; upstream ignores the members.</summary>
    private (TemplateExpression?, IReadOnlyList<TemplateExpression>) FixedFields(string deviceId, params string[] timestamps)
    {
        reader.Ignore("deviceIdExpression", "timestampExpression");
        return (new JsonPathExpression(deviceId), timestamps.Select(t => (TemplateExpression)new JsonPathExpression(t)).ToList());
    }

    private List<DeviceValueTemplate> Values()
    {
        var values = new List<DeviceValueTemplate>();
        var json = reader.Member("values", required: false);
        if (json is null)
        {
            return values; // upstream's CalculatedContent factory crashes here; no values is a valid "event" template
        }

        if (json is not JArray array)
        {
            reader.Error(json, $"Member 'values' of the {kind} template must be an array.");
            return values;
        }

        foreach (var item in array)
        {
            if (item is not JObject valueJson)
            {
                reader.Error(item, "Each entry of 'values' must be an object with valueName and valueExpression.");
                continue;
            }

            var valueReader = reader.Fork(valueJson, "value");
            var name = valueReader.String("valueName", required: true);
            var expression = Expression(valueReader, "valueExpression", required: true);
            var required = valueReader.Boolean("required");
            valueReader.RejectUnknownMembers();
            if (name is not null && expression is not null)
            {
                values.Add(new DeviceValueTemplate(name, expression, required));
            }
        }

        return values;
    }

    /// <summary>An expression member: a string, or in CalculatedContent also <c>{ "value", "language" }</c>.</summary>
    private TemplateExpression? Expression(TemplateObjectReader from, string name, bool required)
    {
        var json = from.Member(name, required);
        string? text;
        var language = defaultLanguage;
        switch (json)
        {
            case null:
                return null;
            case JValue { Type: JTokenType.String }:
                text = (string?)json;
                break;
            case JObject expressionObject when IsCalculated:
                var objectReader = from.Fork(expressionObject, "expression");
                text = objectReader.String("value", required: true);
                language = ReadLanguage(objectReader.Member("language", required: false)) ?? defaultLanguage;
                objectReader.RejectUnknownMembers();
                break;
            default:
                from.Error(json, IsCalculated
                    ? $"Member '{name}' must be a string or an object with 'value' and 'language'."
                    : $"Member '{name}' must be a JSONPath string ({kind} supports neither expression objects nor JMESPath).");
                return null;
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            from.Error(json, $"Member '{name}' must not be empty.");
            return null;
        }

        try
        {
            return TemplateExpression.Compile(text, language);
        }
        catch (TemplateExpressionException ex)
        {
            from.Error(json, ex.Message);
            return null;
        }
    }

    private ExpressionLanguage? ReadLanguage(JToken? json)
    {
        if (json is null)
        {
            return null;
        }

        if (json.Type == JTokenType.String && Enum.TryParse<ExpressionLanguage>((string?)json, ignoreCase: true, out var language))
        {
            return language;
        }

        reader.Error(json, $"Unknown expression language '{json}'. Expected JsonPath or JmesPath.");
        return null;
    }
}
