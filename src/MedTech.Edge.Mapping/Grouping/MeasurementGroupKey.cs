namespace MedTech.Edge.Mapping.Grouping;

/// <summary>
/// What measurements must share to be grouped, compared ordinally field by field (upstream joins the fields
/// into one "-"-separated string, so "a-b"+"c" and "a"+"b-c" collide; a record does not).
/// </summary>
public sealed record MeasurementGroupKey(string DeviceId, string? PatientId, string? EncounterId, string? CorrelationId, string Type);
