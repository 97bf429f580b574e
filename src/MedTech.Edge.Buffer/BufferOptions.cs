namespace MedTech.Edge.Buffer;

/// <summary>The gateway's durable buffer (configuration section <c>Buffer</c>).</summary>
public sealed class BufferOptions
{
    public const string SectionName = "Buffer";

    /// <summary>The LiteDB file; one process owns it (never share it between containers).</summary>
    public string Path { get; set; } = "medtech-data/gateway.db";

    /// <summary>Messages held (inbox + outbox) before <see cref="CapacityPolicy"/> applies.</summary>
    public long MaxMessages { get; set; } = 2_000_000;

    /// <summary>What happens at <see cref="MaxMessages"/>: refuse new messages (devices retry), or evict the oldest.</summary>
    public CapacityPolicy CapacityPolicy { get; set; } = CapacityPolicy.StopAccepting;

    /// <summary>Unsent data older than this is dropped (counted as <c>ttl_expiry</c>).</summary>
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Messages committed together; one commit (and one flush to disk) covers them all.</summary>
    public int CommitBatchSize { get; set; } = 500;

    /// <summary>How long the first message of a commit waits for others to join it.</summary>
    public TimeSpan CommitWindow { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Force each commit to disk (LiteDB <c>Checkpoint()</c>) before acknowledging: survives a power loss, not only a
    /// process kill. LiteDB 5.0.20 does not fsync on commit.
    /// </summary>
    public bool ForceToDisk { get; set; } = true;

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Path))
        {
            errors.Add($"{SectionName}:Path must name the buffer file.");
        }

        if (MaxMessages < 1 || CommitBatchSize < 1)
        {
            errors.Add($"{SectionName}:MaxMessages and {SectionName}:CommitBatchSize must be at least 1.");
        }

        if (TimeToLive <= TimeSpan.Zero || CommitWindow < TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:TimeToLive must be positive and {SectionName}:CommitWindow not negative.");
        }

        return errors;
    }
}
