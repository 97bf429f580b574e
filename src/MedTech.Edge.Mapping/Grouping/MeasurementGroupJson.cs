using System.Text.Json;
using System.Text.Json.Serialization;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Mapping.Grouping;

/// <summary>
/// The hub message between gateway and cloud writer: one measurement group as
/// <c>{"id": "...", "measurements": [...]}</c>, each measurement in upstream's PascalCase wire shape
/// (<c>Type</c>, <c>OccurrenceTimeUtc</c>, <c>IngestionTimeUtc</c>, <c>DeviceId</c>, ..., <c>Properties</c>).
/// </summary>
public static class MeasurementGroupJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static byte[] Serialize(MeasurementGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        return JsonSerializer.SerializeToUtf8Bytes(new Wire(group.Id, group.Measurements.Select(m => new WireMeasurement(
            m.Type, m.OccurrenceTimeUtc, m.IngestionTimeUtc, m.DeviceId, m.PatientId, m.EncounterId, m.CorrelationId,
            m.Properties.Select(p => new WireProperty(p.Name, p.Value)).ToList())).ToList()), Options);
    }

    /// <exception cref="JsonException">The bytes are not such a message, or hold <c>null</c> where a value is required.</exception>
    public static (string Id, IReadOnlyList<Measurement> Measurements) Deserialize(ReadOnlySpan<byte> json)
    {
        var wire = JsonSerializer.Deserialize<Wire>(json, Options) ?? throw new JsonException("Empty measurement group message.");
        // Valid JSON of the wrong shape deserializes with nulls where the types say there are none; each would be a
        // NullReferenceException further on, so it is refused here, where the reader expects a refusal.
        if (wire.Id is null || wire.Measurements is null || wire.Measurements.Any(m => m is null || m.Type is null || m.DeviceId is null || m.Properties is null
            || m.Properties.Any(p => p is null || p.Name is null || p.Value is null)))
        {
            throw new JsonException("Not a measurement group: id, measurements, each measurement's Type, DeviceId and Properties, and each property's Name and Value are required.");
        }

        return (wire.Id, wire.Measurements.Select(m => new Measurement
        {
            Type = m.Type,
            OccurrenceTimeUtc = DateTime.SpecifyKind(m.OccurrenceTimeUtc, DateTimeKind.Utc),
            IngestionTimeUtc = m.IngestionTimeUtc is { } t ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : null,
            DeviceId = m.DeviceId,
            PatientId = m.PatientId,
            EncounterId = m.EncounterId,
            CorrelationId = m.CorrelationId,
            Properties = m.Properties.Select(p => new MeasurementProperty(p.Name, p.Value)).ToList(),
        }).ToList());
    }

    private sealed record Wire(
        [property: JsonPropertyName("id")] string Id,
        [property: JsonPropertyName("measurements")] List<WireMeasurement> Measurements);

    private sealed record WireMeasurement(
        string Type, DateTime OccurrenceTimeUtc, DateTime? IngestionTimeUtc, string DeviceId, string? PatientId,
        string? EncounterId, string? CorrelationId, List<WireProperty> Properties);

    private sealed record WireProperty(string Name, string Value);
}
