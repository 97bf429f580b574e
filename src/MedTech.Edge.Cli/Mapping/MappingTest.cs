using System.Text.Json;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Cli.Mapping;

/// <summary>Normalizes one message file and prints the result in the MedTech Mapping-debugger shape.</summary>
internal sealed class MappingTest(TextWriter output, TextWriter error)
{
    private static readonly HashSet<string> EnvelopeKeys = [Envelope.Body, Envelope.Properties, Envelope.SystemProperties];

    public int Run(string mappingPath, string? fhirMappingPath, string messagePath, bool raw)
    {
        var loader = new MappingValidation(output, error);
        var mapping = Valid(mappingPath, loader.TryLoad(mappingPath, DeviceMapping.Load, "device mapping"), m => m.Errors);
        var fhirMapping = fhirMappingPath is null ? null : Valid(fhirMappingPath, loader.TryLoad(fhirMappingPath, FhirMapping.Load, "FHIR mapping"), m => m.Errors);
        if (mapping is null || (fhirMappingPath is not null && fhirMapping is null))
        {
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

        var errors = result.Errors.Select(e => (e.Code, e.Message, e.TemplateIndex, e.TypeName)).ToList();
        IReadOnlyList<Observation>? observations = null;
        if (fhirMapping is not null)
        {
            var (built, failed) = ObservationPreview.Create(result.Measurements, fhirMapping, null, DateTimeOffset.UtcNow);
            observations = built;
            errors.AddRange(failed.Select(f => (f.Code, f.Message, (int?)null, (string?)f.Group.Key.Type)));
        }

        Write(result.Measurements, observations, errors);
        error.WriteLine($"{result.Measurements.Count} measurement(s), {(observations is null ? "" : $"{observations.Count} observation(s), ")}{errors.Count} error(s).");
        return errors.Count == 0 ? MedTechCommand.Success : MedTechCommand.InputErrors;
    }

    /// <summary>The mapping when it loaded and is valid; its errors are reported otherwise.</summary>
    private T? Valid<T>(string path, T? mapping, Func<T, IReadOnlyList<TemplateError>> errors)
        where T : class
    {
        if (mapping is not null && errors(mapping).Count > 0)
        {
            MappingValidation.ReportErrors(path, errors(mapping), error);
            return null;
        }

        return mapping;
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

    private void Write(IReadOnlyList<Measurement> measurements, IReadOnlyList<Observation>? observations,
        List<(string Code, string Message, int? TemplateIndex, string? TypeName)> errors)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("normalized");
            foreach (var m in measurements)
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
            if (observations is not null)
            {
                json.WriteStartArray("observations");
                foreach (var observation in observations)
                {
                    json.WriteRawValue(FhirJson.Serialize(observation, indented: true));
                }

                json.WriteEndArray();
            }

            json.WriteStartArray("errors");
            foreach (var e in errors)
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
