namespace MedTech.Edge.Writer;

/// <summary>The FHIR writer's own settings (configuration section <c>Writer</c>).</summary>
public sealed class WriterOptions
{
    public const string SectionName = "Writer";

    /// <summary>The MedTech FHIR destination mapping (CollectionFhir JSON); an invalid one stops the module at start.</summary>
    public string FhirMappingPath { get; set; } = "fhirmapping.json";

    /// <summary>The Kafka consumer group; instances in one group share the hub's partitions.</summary>
    public string ConsumerGroup { get; set; } = "fhir-writer";

    /// <summary>Where measurement groups that cannot be written go, with their reason code (an event hub of its own on Event Hubs).</summary>
    public string DeadLetterTopic { get; set; } = "fhir-writer-deadletter";

    /// <summary>
    /// The in-hand journal (<see cref="InHandJournal"/>): must survive a restart of the process (a container's own
    /// layer does under IoT Edge and Docker restart policies; in Kubernetes an emptyDir volume). One file per writer
    /// instance: two writers must not share one.
    /// </summary>
    public string InHandPath { get; set; } = "state/writer-inhand.json";

    /// <summary>Longest wait between retries while the FHIR server is unavailable (nothing is committed meanwhile).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// One-process run without a FHIR server (<c>medtech run</c>): how long the local store keeps Observations (and
    /// anything else but Patients and Devices) after their last update, so its file stays bounded on a gateway that
    /// runs for months. Zero keeps everything. Export what you need with <c>medtech fhir export</c>.
    /// </summary>
    public TimeSpan LocalStoreRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// When a rebalance revokes the partitions of the batch being written, how long the writer may go on to finish it
    /// and commit its offsets before giving the partitions up; past it the write is stopped and the next owner writes
    /// the batch again (idempotently). The group waits for this member meanwhile, so keep it well under the consumer's
    /// max.poll.interval.ms (5 min). Partitions lost (the group went on without this member) stop the write at once.
    /// </summary>
    public TimeSpan RevocationGrace { get; set; } = TimeSpan.FromSeconds(10);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!File.Exists(FhirMappingPath))
        {
            errors.Add($"{SectionName}:FhirMappingPath '{FhirMappingPath}' does not exist.");
        }

        if (string.IsNullOrWhiteSpace(ConsumerGroup) || string.IsNullOrWhiteSpace(DeadLetterTopic))
        {
            errors.Add($"{SectionName}:ConsumerGroup and {SectionName}:DeadLetterTopic must not be empty.");
        }

        if (string.IsNullOrWhiteSpace(InHandPath))
        {
            errors.Add($"{SectionName}:InHandPath must not be empty.");
        }

        if (MaxBackoff <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:MaxBackoff must be positive.");
        }

        if (LocalStoreRetention < TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:LocalStoreRetention must not be negative (0 keeps everything).");
        }

        if (RevocationGrace < TimeSpan.Zero || RevocationGrace > TimeSpan.FromMinutes(2))
        {
            errors.Add($"{SectionName}:RevocationGrace must be between 0 and 2 minutes.");
        }

        return errors;
    }
}
