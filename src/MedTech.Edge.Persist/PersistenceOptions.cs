using MedTech.Edge.Transform.Observations;

namespace MedTech.Edge.Persist;

/// <summary>How measurements are batched and written (configuration section <c>Persistence</c>).</summary>
public sealed partial class PersistenceOptions
{
    public const string SectionName = "Persistence";

    /// <summary>Measurements per batch (MedTech: 300).</summary>
    public int MaxBatchMeasurements { get; set; } = 300;

    /// <summary>How long a partly filled batch waits for more measurements before it is written.</summary>
    public TimeSpan MaxBatchWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Entries per FHIR batch bundle.</summary>
    public int MaxBundleEntries { get; set; } = 300;

    /// <summary>
    /// Rounds of re-read, re-merge and re-write after 409/412 (another writer) or a per-entry 429/5xx. An entry still
    /// failing after them fails its groups when other entries of the batch were written (the server is up; the entry
    /// is the problem); when none was, the whole batch is retried without limit (an outage loses nothing).
    /// </summary>
    public int MaxWriteRounds { get; set; } = 8;

    /// <summary>Observations kept in memory with their version, so steady traffic needs no reads.</summary>
    public int ObservationCacheSize { get; set; } = 5000;

    /// <summary>Absolute expiry of a cached Observation (a stale one only costs a 412 and a re-read).</summary>
    public TimeSpan ObservationCacheExpiry { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Slots of one SampledData window (<c>period</c> steps); a group over it is an <c>ObservationTooLarge</c> dead letter.
    /// 172,800 holds two days at 1 s: a daily window at the densest period in common use fits, and so does a correlation
    /// window of a day and more. Upstream has no limit and builds whatever the window needs (a correlation window of
    /// years at 1 s is a 200 MB string that no FHIR server accepts, so the group could never be written).
    /// </summary>
    public int MaxSampledDataSlots { get; set; } = 172_800;

    /// <summary>
    /// Characters of one SampledData <c>data</c> or one string value; over it, an <c>ObservationTooLarge</c> dead letter.
    /// 4,000,000 holds a full day of 1 s samples of up to 45 characters each, and stays under the request limits FHIR
    /// servers commonly set (a few MB per resource). Upstream: no limit.
    /// </summary>
    public int MaxValueLength { get; set; } = 4_000_000;

    /// <summary>
    /// Writes a Provenance with each write bundle (one extra request per batch written): which Observation versions
    /// were written, by whom, when, from which hub messages. On by default; false writes Observations only.
    /// </summary>
    public bool Provenance { get; set; } = true;

    /// <summary>
    /// The writer as a Provenance agent: <c>Device/{id}</c> for a Device resource the site registered for it, or else a
    /// Device identifier value in the system <c>urn:medtech-edge:writer</c> (a logical reference, no resource needed).
    /// </summary>
    public string ProvenanceAgent { get; set; } = "medtech-edge-writer";

    /// <summary>The two limits above, as the Observation builder takes them.</summary>
    public ObservationLimits Limits => new(MaxSampledDataSlots, MaxValueLength);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var (name, value) in new[] { ("MaxBatchMeasurements", MaxBatchMeasurements), ("MaxBundleEntries", MaxBundleEntries), ("MaxWriteRounds", MaxWriteRounds), ("ObservationCacheSize", ObservationCacheSize), ("MaxSampledDataSlots", MaxSampledDataSlots), ("MaxValueLength", MaxValueLength) })
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

        if (string.IsNullOrWhiteSpace(ProvenanceAgent) || ProvenanceAgent.Length > 256 || ProvenanceAgent.Any(char.IsControl)
            || (ProvenanceAgent.StartsWith("Device/", StringComparison.Ordinal) && !FhirId().IsMatch(ProvenanceAgent["Device/".Length..])))
        {
            errors.Add($"{SectionName}:ProvenanceAgent must be Device/{{id}} with a FHIR id, or an identifier of 1 to 256 characters without control characters.");
        }

        return errors;
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9\\-\\.]{1,64}\\z")]
    private static partial System.Text.RegularExpressions.Regex FhirId();
}
