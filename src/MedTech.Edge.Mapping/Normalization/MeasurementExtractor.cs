using MedTech.Edge.Mapping.Expressions;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>Applies one template to one envelope: one measurement per token its type match finds.</summary>
internal static class MeasurementExtractor
{
    private const string MatchedToken = "matchedToken";

    public static void Extract(DeviceTemplate template, JObject envelope, DateTime? ingestionTimeUtc, List<Measurement> measurements, List<NormalizationError> errors)
    {
        IReadOnlyList<JToken> matches;
        try
        {
            matches = template.TypeMatch.SelectTokens(envelope);
        }
        catch (Exception ex)
        {
            errors.Add(ToError(template, "typeMatchExpression", ex));
            return;
        }

        try
        {
            foreach (var match in matches)
            {
                // CalculatedContent: every expression sees the envelope plus the match as "matchedToken". Upstream
                // deep-copies the whole envelope per match; setting the property on the envelope we own copies
                // only the match (Newtonsoft clones a token that already has a parent) and reads the same, and
                // when every expression is "matchedToken.…" we read the match directly and copy nothing.
                var scope = new Scope(template.UsesMatchedToken ? envelope : match, template.UsesMatchedToken ? match : null);
                if (template.NeedsMatchedTokenInEnvelope)
                {
                    envelope[MatchedToken] = match;
                }

                try
                {
                    measurements.Add(Create(template, scope, ingestionTimeUtc));
                }
                catch (FieldException ex)
                {
                    errors.Add(ToError(template, ex.Field, ex.InnerException!));
                }
            }
        }
        finally
        {
            envelope.Remove(MatchedToken);
        }
    }

    // Upstream's evaluation order: device, time, correlation id, patient, encounter, then values in order.
    private static Measurement Create(DeviceTemplate template, Scope scope, DateTime? ingestionTimeUtc)
    {
        var deviceId = Required(template, scope, template.DeviceId, "deviceIdExpression");
        var occurrence = Timestamp(template, scope);
        var correlationId = template.CorrelationId is null ? null : Required(template, scope, template.CorrelationId, "correlationIdExpression");
        var patientId = Optional(scope, template.PatientId, "patientIdExpression");
        var encounterId = Optional(scope, template.EncounterId, "encounterIdExpression");

        var properties = new List<MeasurementProperty>(template.Values.Count);
        foreach (var value in template.Values)
        {
            var text = value.Required
                ? Required(template, scope, value.ValueExpression, value.ValueName)
                : Optional(scope, value.ValueExpression, value.ValueName);
            if (text is not null)
            {
                properties.Add(new MeasurementProperty(value.ValueName, text));
            }
        }

        return new Measurement
        {
            Type = template.TypeName,
            OccurrenceTimeUtc = occurrence,
            IngestionTimeUtc = ingestionTimeUtc,
            DeviceId = deviceId,
            PatientId = patientId,
            EncounterId = encounterId,
            CorrelationId = correlationId,
            Properties = properties,
        };
    }

    private static string Required(DeviceTemplate template, Scope scope, TemplateExpression expression, string field)
    {
        var text = Evaluate(scope, expression, field, optional: false);
        return string.IsNullOrWhiteSpace(text)
            ? throw new FieldException(field, new IncompatibleDataException(
                $"Unable to extract required value for [{field}] using {expression.Text}: it is missing, null or empty.{Hint(template, expression)}"))
            : text;
    }

    /// <summary>The two mistakes we see most when a value is not found, said in the error itself.</summary>
    private static string Hint(DeviceTemplate template, TemplateExpression expression)
    {
        if (template.Kind is DeviceTemplateKind.IotJsonPathContent && expression.Text.StartsWith("$.SystemProperties", StringComparison.Ordinal))
        {
            return " IotJsonPathContent reads the device id and time from the IoT Hub envelope: test with the whole " +
                "{Body, Properties, SystemProperties} message, not the payload alone.";
        }

        string[] envelopeRoots = ["$.matchedToken", "$.Body", "$.Properties", "$.SystemProperties"];
        if (template.UsesMatchedToken && expression.Language == ExpressionLanguage.JsonPath
            && expression.Text.StartsWith("$.", StringComparison.Ordinal)
            && !envelopeRoots.Any(root => expression.Text.StartsWith(root, StringComparison.OrdinalIgnoreCase)))
        {
            return $" CalculatedContent expressions run against {{Body, Properties, SystemProperties, matchedToken}}; " +
                $"did you mean $.matchedToken.{expression.Text[2..]} or $.Body.{expression.Text[2..]}?";
        }

        return "";
    }

    /// <summary>Missing, null, an object or an array gives null, as upstream; an empty string is kept.</summary>
    private static string? Optional(Scope scope, TemplateExpression? expression, string field) =>
        expression is null ? null : Evaluate(scope, expression, field, optional: true);

    private static string? Evaluate(Scope scope, TemplateExpression expression, string field, bool optional)
    {
        try
        {
            var token = scope.Select(expression);
            return token is null || (optional && token.Type is JTokenType.Object or JTokenType.Array) ? null : TokenValues.ToText(token);
        }
        catch (Exception ex)
        {
            throw new FieldException(field, ex);
        }
    }

    /// <summary>The first expression that yields a convertible time wins (IoT Hub: creation time, then enqueued time).</summary>
    private static DateTime Timestamp(DeviceTemplate template, Scope scope)
    {
        var expressions = template.Timestamp;
        Exception? failure = null;
        foreach (var expression in expressions)
        {
            try
            {
                if (scope.Select(expression) is { Type: not JTokenType.Null } token)
                {
                    return TokenValues.ToUtc(token);
                }
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        }

        var tried = string.Join(", ", expressions.Select(e => e.Text));
        throw new FieldException("timestampExpression", failure is IncompatibleDataException incompatible
            ? new IncompatibleDataException($"The timestamp from {tried} could not be read: {incompatible.Message}.", incompatible)
            : failure ?? new IncompatibleDataException(
                $"Unable to extract required value for [timestampExpression] using {tried}: it is missing or null.{Hint(template, expressions[^1])}"));
    }

    private static NormalizationError ToError(DeviceTemplate template, string field, Exception ex)
    {
        var code = ex switch
        {
            IncompatibleDataException => ErrorCodes.IncompatibleData,
            TemplateExpressionException => ErrorCodes.TemplateExpression,
            _ => ErrorCodes.NormalizationDataMapping,
        };
        var message = ex is IncompatibleDataException or TemplateExpressionException ? ex.Message : $"[{field}] failed: {ex.Message}";
        return new NormalizationError(code, message, template.Index, template.TypeName);
    }

    /// <summary>What expressions run against: the envelope (or, legacy, the match) and, for CalculatedContent, the match.</summary>
    private readonly record struct Scope(JToken Token, JToken? Match)
    {
        public JToken? Select(TemplateExpression expression) =>
            Match is not null && expression.MatchedTokenPath is { } path ? path.Select(Match) : expression.SelectToken(Token);
    }

    /// <summary>Carries which field failed up to the per-match handler.</summary>
    private sealed class FieldException(string field, Exception inner) : Exception(inner.Message, inner)
    {
        public string Field { get; } = field;
    }
}
