using MedTech.Edge.Mapping.Expressions;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// Applies one template to one envelope: one measurement per token its type match finds. An error in one match
/// is recorded and the next match is tried; a limit of the message (time, measurements, errors) ends the message.
/// </summary>
internal static class MeasurementExtractor
{
    private const string MatchedToken = "matchedToken";

    /// <exception cref="MessageLimitException">The message reached one of its limits.</exception>
    public static void Extract(DeviceTemplate template, MessageContext message)
    {
        try
        {
            ExtractMatches(template, message);
        }
        catch (TemplateExpressionException ex) when (ex.IsTimeLimit)
        {
            throw new MessageLimitException(new NormalizationError(ErrorCodes.TemplateExpression, ex.Message, template.Index, template.TypeName));
        }
    }

    private static void ExtractMatches(DeviceTemplate template, MessageContext message)
    {
        message.Budget.ThrowIfExceeded();
        var envelope = message.Envelope;
        IReadOnlyList<JToken> matches;
        try
        {
            matches = template.TypeMatch.SelectTokens(envelope, message.Budget);
        }
        catch (Exception ex) when (!EndsMessage(ex))
        {
            message.Add(ToError(template, "typeMatchExpression", ex));
            return;
        }

        try
        {
            foreach (var match in matches)
            {
                // Many matches times many expressions is where a message's time goes: check between matches.
                message.Budget.ThrowIfExceeded();

                // CalculatedContent: every expression sees the envelope plus the match as "matchedToken". Upstream
                // deep-copies the whole envelope per match; setting the property on the envelope we own copies
                // only the match (Newtonsoft clones a token that already has a parent) and reads the same, and
                // when every expression is "matchedToken.…" we read the match directly and copy nothing.
                var scope = new Scope(template.UsesMatchedToken ? envelope : match, template.UsesMatchedToken ? match : null, message);
                if (template.NeedsMatchedTokenInEnvelope)
                {
                    envelope[MatchedToken] = match;
                }

                Measurement measurement;
                try
                {
                    measurement = Create(template, scope);
                }
                catch (FieldException ex)
                {
                    message.Add(ToError(template, ex.Field, ex.InnerException!));
                    continue;
                }

                message.Add(measurement);
            }
        }
        finally
        {
            envelope.Remove(MatchedToken);
        }
    }

    /// <summary>What stops the whole message rather than one match: its time is up, or a limit was reached.</summary>
    private static bool EndsMessage(Exception ex) => ex is MessageLimitException or TemplateExpressionException { IsTimeLimit: true };

    // Upstream's evaluation order: device, time, correlation id, patient, encounter, then values in order.
    private static Measurement Create(DeviceTemplate template, Scope scope)
    {
        var limits = scope.Message.Limits;
        var notUtf8 = scope.Message.BodyNotUtf8;
        string? Id(string? text, string field) => Bounded(text, field, limits.MaxIdentifierLength, nameof(limits.MaxIdentifierLength), notUtf8);

        var deviceId = Id(Required(template, scope, template.DeviceId, "deviceIdExpression"), "deviceIdExpression")!;
        var occurrence = Plausible(Timestamp(template, scope), scope.Message);
        var correlationId = template.CorrelationId is null ? null
            : Id(Required(template, scope, template.CorrelationId, "correlationIdExpression"), "correlationIdExpression");
        var patientId = Id(Optional(scope, template.PatientId, "patientIdExpression"), "patientIdExpression");
        var encounterId = Id(Optional(scope, template.EncounterId, "encounterIdExpression"), "encounterIdExpression");

        var properties = new List<MeasurementProperty>(template.Values.Count);
        foreach (var value in template.Values)
        {
            var text = value.Required
                ? Required(template, scope, value.ValueExpression, value.ValueName)
                : Optional(scope, value.ValueExpression, value.ValueName);
            if (text is not null)
            {
                properties.Add(new MeasurementProperty(value.ValueName, Bounded(text, value.ValueName, limits.MaxValueLength, nameof(limits.MaxValueLength), notUtf8)!));
            }
        }

        return new Measurement
        {
            Type = template.TypeName,
            OccurrenceTimeUtc = occurrence,
            IngestionTimeUtc = scope.Message.IngestionTimeUtc,
            DeviceId = deviceId,
            PatientId = patientId,
            EncounterId = encounterId,
            CorrelationId = correlationId,
            Properties = properties,
        };
    }

    /// <summary>
    /// The text when it is within its length limit and valid Unicode. An unpaired surrogate (from an MQTT property,
    /// or a JMESPath string function that splits a pair; Newtonsoft already replaces one escaped in JSON) would be
    /// replaced by U+FFFD on the way to the hub, so the value would change without anyone knowing. In a body that was not
    /// UTF-8, a U+FFFD stands for bytes we could not read: an id or value holding one is refused rather than charted.
    /// </summary>
    private static string? Bounded(string? text, string field, int limit, string limitName, bool bodyNotUtf8)
    {
        if (text is null)
        {
            return null;
        }

        if (text.Length > limit)
        {
            throw new FieldException(field, new IncompatibleDataException($"[{field}] is {text.Length} characters long; the limit is {limit} ({limitName})."));
        }

        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 && HasLoneSurrogate(text))
        {
            throw new FieldException(field, new IncompatibleDataException($"[{field}] is not valid Unicode: it holds an unpaired surrogate."));
        }

        if (bodyNotUtf8 && text.Contains('\uFFFD', StringComparison.Ordinal))
        {
            throw new FieldException(field, new InvalidDataFormatException($"[{field}] holds bytes of the message body that are not valid UTF-8."));
        }

        return text;
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The occurrence time when it lies in the plausible window around the message's receipt.</summary>
    private static DateTime Plausible(DateTime occurrence, MessageContext message)
    {
        if (occurrence >= message.EarliestOccurrence && occurrence <= message.LatestOccurrence)
        {
            return occurrence;
        }

        // Says how far off, not the time itself: a reading's date belongs to the patient.
        var reason = message.IngestionTimeUtc is not { } received ? "outside years 2 to 9998"
            : occurrence < message.EarliestOccurrence ? $"more than {message.Limits.PlausiblePast.TotalDays:0.##} days before the message was received (PlausiblePast)"
            : $"more than {message.Limits.PlausibleFuture.TotalDays:0.##} days after the message was received (PlausibleFuture)";
        throw new FieldException("timestampExpression", new IncompatibleDataException($"The occurrence time is implausible: {reason}."));
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
        catch (Exception ex) when (!EndsMessage(ex))
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
            catch (Exception ex) when (!EndsMessage(ex))
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
            InvalidDataFormatException => ErrorCodes.InvalidDataFormat,
            TemplateExpressionException => ErrorCodes.TemplateExpression,
            _ => ErrorCodes.NormalizationDataMapping,
        };
        var message = ex is IncompatibleDataException or InvalidDataFormatException or TemplateExpressionException ? ex.Message : $"[{field}] failed: {ex.Message}";
        return new NormalizationError(code, message, template.Index, template.TypeName);
    }

    /// <summary>What expressions run against: the envelope (or, legacy, the match) and, for CalculatedContent, the match.</summary>
    private readonly record struct Scope(JToken Token, JToken? Match, MessageContext Message)
    {
        public JToken? Select(TemplateExpression expression) =>
            Match is not null && expression.MatchedTokenPath is { } path ? path.Select(Match) : expression.SelectToken(Token, Message.Budget);
    }

    /// <summary>Carries which field failed up to the per-match handler.</summary>
    private sealed class FieldException(string field, Exception inner) : Exception(inner.Message, inner)
    {
        public string Field { get; } = field;
    }
}
