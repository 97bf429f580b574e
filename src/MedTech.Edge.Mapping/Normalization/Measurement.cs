namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// A normalized measurement, the shape MedTech's Mapping debugger shows. Times are UTC; property values are
/// strings, as upstream writes them.
/// </summary>
public sealed record Measurement
{
    public required string Type { get; init; }

    public required DateTime OccurrenceTimeUtc { get; init; }

    /// <summary>When the gateway received the source message; decides which duplicate wins in a group.</summary>
    public DateTime? IngestionTimeUtc { get; init; }

    public required string DeviceId { get; init; }

    public string? PatientId { get; init; }

    public string? EncounterId { get; init; }

    public string? CorrelationId { get; init; }

    public IReadOnlyList<MeasurementProperty> Properties { get; init; } = [];
}

/// <summary>One extracted value: the template's <c>valueName</c> and the value as a string.</summary>
public sealed record MeasurementProperty(string Name, string Value);
