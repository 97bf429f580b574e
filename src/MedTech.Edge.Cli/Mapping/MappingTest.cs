using System.Text.Json;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Cli.Mapping;

/// <summary>Normalizes one message file and prints the result in the MedTech Mapping-debugger shape.</summary>
internal sealed class MappingTest(TextWriter output, TextWriter error)
{
    private static readonly HashSet<string> EnvelopeKeys = [Envelope.Body, Envelope.Properties, Envelope.SystemProperties];

    public int Run(string mappingPath, string messagePath, bool raw)
    {
        var mapping = new MappingValidation(output, error).TryLoad(mappingPath);
        if (mapping is null)
        {
            return MedTechCommand.UsageError;
        }

        if (!mapping.IsValid)
        {
            MappingValidation.ReportErrors(mappingPath, mapping, error);
            return MedTechCommand.UsageError;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(messagePath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{messagePath}: cannot read the message: {ex.Message}");
            return MedTechCommand.UsageError;
        }

        var normalizer = new Normalizer(mapping);
        var result = !raw && AsEnvelope(bytes) is { } envelope
            ? normalizer.Normalize(envelope, DateTime.UtcNow)
            : normalizer.Normalize(new DeviceMessage(bytes, DateTime.UtcNow));

        Write(result);
        error.WriteLine($"{result.Measurements.Count} measurement(s), {result.Errors.Count} error(s).");
        return result.IsSuccess ? MedTechCommand.Success : MedTechCommand.InputErrors;
    }

    /// <summary>A message whose only top-level keys are Body, Properties and SystemProperties is a whole envelope.</summary>
    private static JObject? AsEnvelope(byte[] bytes)
    {
        try
        {
            if (Envelope.ParseBody(bytes) is JObject json && json.ContainsKey(Envelope.Body)
                && json.Properties().All(p => EnvelopeKeys.Contains(p.Name)))
            {
                json[Envelope.Properties] ??= new JObject();
                json[Envelope.SystemProperties] ??= new JObject();
                return json;
            }
        }
        catch (FormatException)
        {
            // Not JSON: normalized as a payload below, which reports InvalidDataFormatException.
        }

        return null;
    }

    private void Write(NormalizationResult result)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("normalized");
            foreach (var m in result.Measurements)
            {
                json.WriteStartObject();
                json.WriteString("type", m.Type);
                json.WriteString("occurrenceTimeUtc", UtcTime.ToText(m.OccurrenceTimeUtc));
                json.WriteString("deviceId", m.DeviceId);
                json.WriteString("patientId", m.PatientId);
                json.WriteString("encounterId", m.EncounterId);
                json.WriteString("correlationId", m.CorrelationId);
                json.WriteStartArray("properties");
                foreach (var p in m.Properties)
                {
                    json.WriteStartObject();
                    json.WriteString("name", p.Name);
                    json.WriteString("value", p.Value);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("errors");
            foreach (var e in result.Errors)
            {
                json.WriteStartObject();
                json.WriteString("code", e.Code);
                json.WriteString("message", e.Message);
                if (e.TemplateIndex is { } index)
                {
                    json.WriteNumber("templateIndex", index);
                }

                json.WriteString("typeName", e.TypeName);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
