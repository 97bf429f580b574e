namespace MedTech.Edge.Buffer;

/// <summary>The gateway's durable buffer (configuration section <c>Buffer</c>).</summary>
public sealed class BufferOptions
{
    public const string SectionName = "Buffer";

    /// <summary>The LiteDB file; one process owns it (never share it between containers).</summary>
    public string Path { get; set; } = "medtech-data/gateway.db";

    /// <summary>
    /// Device messages held unsent before <see cref="CapacityPolicy"/> applies: those in the inbox and those behind the
    /// outbox's measurement groups (a group of many readings counts the messages it came from, not one), as the install
    /// guide sizes it. Dead letters have their own share (<see cref="MaxDeadLetters"/>).
    /// </summary>
    public long MaxMessages { get; set; } = 2_000_000;

    /// <summary>
    /// Bytes of unsent data held (inbox records and outbox groups as stored) before <see cref="CapacityPolicy"/>
    /// applies. 8 GiB: for vital signs (about 600 bytes a message) <see cref="MaxMessages"/> binds long before; for
    /// large waveform messages this does. Set it to half the disk given to the buffer (a rebuild needs the same again).
    /// At least <see cref="MinimumMaxBytes"/>.
    /// </summary>
    public long MaxBytes { get; set; } = 8L << 30;

    /// <summary>The least <see cref="MaxBytes"/> and <see cref="MaxDeadLetterBytes"/> may be: several of the largest records (12 MiB).</summary>
    public const long MinimumMaxBytes = 64L << 20;

    /// <summary>
    /// Dead letters kept; beyond, the oldest are dropped and counted (<c>deadletter_capacity</c>). 500,000: hours of a
    /// whole ward failing a mapping (40 beds at 1 message/s: 3.5 h), long past the dead-letter alert, yet a device
    /// sending garbage for weeks cannot grow the file without end.
    /// </summary>
    public long MaxDeadLetters { get; set; } = 500_000;

    /// <summary>
    /// Bytes of dead letters kept (messages as stored with their reasons); beyond, the oldest are dropped and counted
    /// (<c>deadletter_capacity</c>). 1 GiB: 500,000 vital-signs messages take about a fifth of it, so for large
    /// messages this binds first. At least <see cref="MinimumMaxBytes"/>.
    /// </summary>
    public long MaxDeadLetterBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Dead letters older than this are dropped and counted (<c>deadletter_ttl</c>). 7 days, as <see cref="TimeToLive"/>:
    /// a replayed dead letter keeps its receive time, so one older than that would be dropped as unsent data anyway.
    /// </summary>
    public TimeSpan DeadLetterTimeToLive { get; set; } = TimeSpan.FromDays(7);

    /// <summary>What happens at <see cref="MaxMessages"/> or <see cref="MaxBytes"/>: refuse new messages (devices retry), or evict the oldest.</summary>
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

        if (MaxBytes < MinimumMaxBytes || MaxDeadLetterBytes < MinimumMaxBytes)
        {
            errors.Add($"{SectionName}:MaxBytes and {SectionName}:MaxDeadLetterBytes must be at least {MinimumMaxBytes} (64 MiB): the largest message must fit.");
        }

        if (MaxDeadLetters < 1 || DeadLetterTimeToLive <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:MaxDeadLetters must be at least 1 and {SectionName}:DeadLetterTimeToLive positive.");
        }

        if (TimeToLive <= TimeSpan.Zero || CommitWindow < TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:TimeToLive must be positive and {SectionName}:CommitWindow not negative.");
        }

        return errors;
    }
}
