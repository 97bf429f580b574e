using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// Turns device messages into measurements with a device mapping: every template is applied, one measurement
/// per match. Never throws for a bad message: failures come back as errors with MedTech reason codes, so one
/// bad message cannot affect the others. Thread-safe: templates are read-only, each call owns its envelope.
/// </summary>
public sealed class Normalizer
{
    private readonly DeviceMapping mapping;

    public Normalizer(DeviceMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        if (!mapping.IsValid)
        {
            throw new ArgumentException("A normalizer needs a valid device mapping; check Errors first.", nameof(mapping));
        }

        this.mapping = mapping;
    }

    public NormalizationResult Normalize(DeviceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        JToken? body;
        try
        {
            body = Envelope.ParseBody(message.Body.Span);
        }
        catch (FormatException ex)
        {
            return NormalizationResult.Failed(ErrorCodes.InvalidDataFormat, ex.Message);
        }

        return Normalize(Envelope.Create(body, message.Properties, message.SystemProperties), message.IngestionTimeUtc);
    }

    /// <summary>Normalizes an envelope that is already JSON (the mapping tester reads whole envelopes from files).</summary>
    public NormalizationResult Normalize(JObject envelope, DateTime? ingestionTimeUtc)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var measurements = new List<Measurement>();
        var errors = new List<NormalizationError>();
        try
        {
            foreach (var template in mapping.Templates)
            {
                MeasurementExtractor.Extract(template, envelope, ingestionTimeUtc, measurements, errors);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Defensive: the extractor handles expression errors itself; anything else must still not escape.
            errors.Add(new NormalizationError(ErrorCodes.NormalizationDataMapping, $"Normalization failed: {ex.GetType().Name}."));
        }

        if (measurements.Count == 0 && errors.Count == 0)
        {
            errors.Add(new NormalizationError(ErrorCodes.DroppedEvent, "No template in the device mapping matched the message."));
        }

        return new NormalizationResult(measurements, errors);
    }
}
