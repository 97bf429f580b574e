using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer;

/// <summary>What the writer's hub carries (<c>Writer:Input</c>).</summary>
public enum WriterInput
{
    /// <summary>Measurement groups our gateway made (Normalize and Group ran at the edge).</summary>
    Groups,

    /// <summary>
    /// Raw device messages, from the Event Hub MedTech reads (through a consumer group of the writer's own): the writer
    /// normalizes them with <see cref="WriterOptions.DeviceMappingPath"/>, as MedTech did in the cloud.
    /// </summary>
    DeviceMessages,
}

/// <summary>How the values of a device message's Kafka headers are read (<c>Writer:HeaderEncoding</c>).</summary>
public enum HeaderEncoding
{
    /// <summary>
    /// As Event Hubs gives them for events sent over AMQP (IoT Hub routing, the Event Hubs SDKs): the AMQP encoding of
    /// the property, type code included; a value that is not one complete AMQP value is read as UTF-8.
    /// </summary>
    Amqp,

    /// <summary>As a Kafka producer writes them: UTF-8 text.</summary>
    Utf8,
}

/// <summary>The FHIR writer's own settings (configuration section <c>Writer</c>).</summary>
public sealed class WriterOptions
{
    public const string SectionName = "Writer";

    /// <summary>What the hub carries: gateway measurement groups (the default), or raw device messages to normalize here.</summary>
    public WriterInput Input { get; set; } = WriterInput.Groups;

    /// <summary>With <see cref="WriterInput.DeviceMessages"/>: the MedTech device mapping (CollectionContent JSON); an invalid one stops the module at start.</summary>
    public string DeviceMappingPath { get; set; } = "devicecontent.json";

    /// <summary>With <see cref="WriterInput.DeviceMessages"/>: how header values (application and system properties) are encoded.</summary>
    public HeaderEncoding HeaderEncoding { get; set; } = HeaderEncoding.Amqp;

    /// <summary>With <see cref="WriterInput.DeviceMessages"/>: what one device message may cost and produce in Normalize (<c>Writer:Normalization:*</c>, as the gateway's).</summary>
    public NormalizationLimits Normalization { get; set; } = new();

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

    /// <summary>
    /// Dry run for a migration: compute what would be written and compare it with what the FHIR server holds under the
    /// same Observation ids, writing nothing (no Observation, no Provenance, no dead letter); the result goes to
    /// <see cref="ShadowReportPath"/>. Give the shadow writer a consumer group of its own.
    /// </summary>
    public bool Shadow { get; set; }

    /// <summary>With <see cref="Shadow"/>: the report (JSON: matching, differing, missing, would-be failures by reason code, first differences); it holds clinical values.</summary>
    public string ShadowReportPath { get; set; } = "state/shadow-report.json";

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!File.Exists(FhirMappingPath))
        {
            errors.Add($"{SectionName}:FhirMappingPath '{FhirMappingPath}' does not exist.");
        }

        if (!Enum.IsDefined(Input) || !Enum.IsDefined(HeaderEncoding))
        {
            errors.Add($"{SectionName}:Input must be Groups or DeviceMessages, and {SectionName}:HeaderEncoding Amqp or Utf8.");
        }

        if (Input == WriterInput.DeviceMessages)
        {
            if (!File.Exists(DeviceMappingPath))
            {
                errors.Add($"{SectionName}:DeviceMappingPath '{DeviceMappingPath}' does not exist (required with {SectionName}:Input=DeviceMessages).");
            }

            errors.AddRange(Normalization.Validate($"{SectionName}:Normalization"));
        }

        if (string.IsNullOrWhiteSpace(ConsumerGroup) || string.IsNullOrWhiteSpace(DeadLetterTopic))
        {
            errors.Add($"{SectionName}:ConsumerGroup and {SectionName}:DeadLetterTopic must not be empty.");
        }

        if (Shadow && string.IsNullOrWhiteSpace(ShadowReportPath))
        {
            errors.Add($"{SectionName}:ShadowReportPath must not be empty with {SectionName}:Shadow=true.");
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
