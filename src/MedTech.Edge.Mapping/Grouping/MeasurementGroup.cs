using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Mapping.Grouping;

/// <summary>
/// Measurements of one device, patient, encounter, correlation id and type, at most one per occurrence time,
/// ordered by time. <see cref="Id"/> is a SHA-256 over the key and the content, so regrouping the same
/// measurements anywhere gives the same id (downstream stores use it to ignore a re-delivered group).
/// </summary>
public sealed record MeasurementGroup(string Id, MeasurementGroupKey Key, IReadOnlyList<Measurement> Measurements);
