using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// Turns device messages into measurements with a device mapping: every template is applied, one measurement
/// per match. Never throws for a bad message: failures come back as errors with MedTech reason codes, so one
/// bad message cannot affect the others, and <see cref="NormalizationLimits"/> bound the time a message may take
/// and what it may produce. Thread-safe: templates are read-only, each call owns its envelope.
/// </summary>
public sealed class Normalizer
{
    private readonly DeviceMapping mapping;
    private readonly NormalizationLimits limits;

    /// <param name="mapping">A valid device mapping.</param>
    /// <param name="limits">The limits per message; the defaults when not given.</param>
    public Normalizer(DeviceMapping mapping, NormalizationLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        if (!mapping.IsValid)
        {
            throw new ArgumentException("A normalizer needs a valid device mapping; check Errors first.", nameof(mapping));
        }

        limits ??= new NormalizationLimits();
        if (limits.Validate(nameof(NormalizationLimits)) is { Count: > 0 } errors)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(limits));
        }

        this.mapping = mapping;
        this.limits = limits;
    }

    public NormalizationResult Normalize(DeviceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        JToken? body;
        bool notUtf8;
        try
        {
            body = Envelope.ParseBody(message.Body.Span, out notUtf8);
        }
        catch (FormatException ex)
        {
            return NormalizationResult.Failed(ErrorCodes.InvalidDataFormat, ex.Message);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Defensive, as below: no body may make the normalizer throw.
            return NormalizationResult.Failed(ErrorCodes.InvalidDataFormat, $"The message body could not be read: {ex.GetType().Name}.");
        }

        return Normalize(new MessageContext(Envelope.Create(body, message), message.IngestionTimeUtc, limits)
        {
            BodyNotUtf8 = notUtf8,
        });
    }

    /// <summary>
    /// Normalizes an envelope that is already JSON (the mapping tester reads whole envelopes from files). Without an
    /// ingestion time, occurrence times are checked only against the ends of DateTime, not the plausible window.
    /// </summary>
    public NormalizationResult Normalize(JObject envelope, DateTime? ingestionTimeUtc)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return Normalize(new MessageContext(envelope, ingestionTimeUtc, limits));
    }

    private NormalizationResult Normalize(MessageContext message)
    {
        try
        {
            foreach (var template in mapping.Templates)
            {
                MeasurementExtractor.Extract(template, message);
            }
        }
        catch (MessageLimitException ex)
        {
            // First, because the first error is the message's reason code: the limit is why it stopped.
            message.Errors.Insert(0, ex.Error);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Defensive: the extractor handles expression errors itself; anything else must still not escape.
            message.Errors.Add(new NormalizationError(ErrorCodes.NormalizationDataMapping, $"Normalization failed: {ex.GetType().Name}."));
        }

        if (message.Measurements.Count == 0 && message.Errors.Count == 0)
        {
            message.Errors.Add(new NormalizationError(ErrorCodes.DroppedEvent, "No template in the device mapping matched the message."));
        }

        return new NormalizationResult(message.Measurements, message.Errors);
    }
}
