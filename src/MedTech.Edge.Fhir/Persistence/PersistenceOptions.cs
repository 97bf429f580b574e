namespace MedTech.Edge.Fhir.Persistence;

/// <summary>How measurements are batched and written (configuration section <c>Persistence</c>).</summary>
public sealed class PersistenceOptions
{
    public const string SectionName = "Persistence";

    /// <summary>Measurements per batch (MedTech: 300).</summary>
    public int MaxBatchMeasurements { get; set; } = 300;

    /// <summary>How long a partly filled batch waits for more measurements before it is written.</summary>
    public TimeSpan MaxBatchWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Entries per FHIR batch bundle.</summary>
    public int MaxBundleEntries { get; set; } = 300;

    /// <summary>Rounds of re-read, re-merge and re-write after 409/412 (another writer) or a per-entry 429/5xx.</summary>
    public int MaxWriteRounds { get; set; } = 8;

    /// <summary>Observations kept in memory with their version, so steady traffic needs no reads.</summary>
    public int ObservationCacheSize { get; set; } = 5000;

    /// <summary>Absolute expiry of a cached Observation (a stale one only costs a 412 and a re-read).</summary>
    public TimeSpan ObservationCacheExpiry { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var (name, value) in new[] { ("MaxBatchMeasurements", MaxBatchMeasurements), ("MaxBundleEntries", MaxBundleEntries), ("MaxWriteRounds", MaxWriteRounds), ("ObservationCacheSize", ObservationCacheSize) })
        {
            if (value < 1)
            {
                errors.Add($"{SectionName}:{name} must be at least 1.");
            }
        }

        if (MaxBatchWait <= TimeSpan.Zero || ObservationCacheExpiry <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:MaxBatchWait and {SectionName}:ObservationCacheExpiry must be positive.");
        }

        return errors;
    }
}
