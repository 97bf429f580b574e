using System.Security.Cryptography;
using System.Text;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Mapping.Grouping;

/// <summary>
/// The Group stage: splits measurements into <see cref="MeasurementGroup"/>s. For one occurrence time within a
/// group the latest-ingested measurement wins (MedTech: "only the latest message is persisted"); on equal
/// ingestion times the one that came later in the input wins. Groups come out in order of first appearance.
/// </summary>
public static class MeasurementGrouper
{
    public static IReadOnlyList<MeasurementGroup> Group(IEnumerable<Measurement> measurements)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        var groups = new Dictionary<MeasurementGroupKey, Dictionary<DateTime, Measurement>>();
        var order = new List<MeasurementGroupKey>();
        foreach (var measurement in measurements)
        {
            var key = new MeasurementGroupKey(measurement.DeviceId, measurement.PatientId, measurement.EncounterId, measurement.CorrelationId, measurement.Type);
            if (!groups.TryGetValue(key, out var byTime))
            {
                groups[key] = byTime = [];
                order.Add(key);
            }

            if (!byTime.TryGetValue(measurement.OccurrenceTimeUtc, out var current) || !IsIngestedBefore(measurement, current))
            {
                byTime[measurement.OccurrenceTimeUtc] = measurement;
            }
        }

        return order.Select(key =>
        {
            var data = groups[key].Values.OrderBy(m => m.OccurrenceTimeUtc).ToList();
            return new MeasurementGroup(ComputeId(key, data), key, data);
        }).ToList();
    }

    private static bool IsIngestedBefore(Measurement candidate, Measurement current) =>
        (candidate.IngestionTimeUtc ?? DateTime.MinValue) < (current.IngestionTimeUtc ?? DateTime.MinValue);

    private static string ComputeId(MeasurementGroupKey key, IReadOnlyList<Measurement> data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, key.DeviceId, key.PatientId, key.EncounterId, key.CorrelationId, key.Type);
        foreach (var measurement in data)
        {
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            Append(hash, measurement.OccurrenceTimeUtc.Ticks.ToString(invariant), measurement.Properties.Count.ToString(invariant));
            foreach (var property in measurement.Properties)
            {
                Append(hash, property.Name, property.Value);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    // Each field is length-prefixed (null as -1) so no two different inputs hash the same byte stream.
    private static void Append(IncrementalHash hash, params string?[] fields)
    {
        Span<byte> length = stackalloc byte[4];
        foreach (var field in fields)
        {
            var bytes = field is null ? [] : Encoding.UTF8.GetBytes(field);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, field is null ? -1 : bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }
    }
}
