namespace MedTech.Edge.Buffer;

/// <summary>
/// The gateway's one LiteDB file: inbox (as received) → outbox (for the hub) → gone, plus dead letters. Each step is
/// one transaction, and a message leaves a collection only in the transaction that puts it in the next one, so a
/// crash between steps repeats a step (duplicates downstream are idempotent) and never loses a message.
/// Thread-safe; one instance per file and process. This class opens the file and hands out its parts, one per
/// consumer: <see cref="Inbox"/> (ingest and Normalize), <see cref="Outbox"/> (forwarders and the in-process writer),
/// <see cref="DeadLetters"/> (operators) and <see cref="Upkeep"/> (housekeeping and gauges). It implements their
/// interfaces too, by handing each call on, for a host or test that holds the whole buffer.
/// </summary>
public sealed class GatewayStore : IInboxStore, INormalizationInput, IOutbox, IDeadLetters, IBufferUpkeep, IDisposable
{
    /// <summary>The in-hand record of Normalize and Group (ids are inbox message ids).</summary>
    public const string NormalizationInHand = "inHand:normalize";

    /// <summary>The in-hand record of the in-process writer (ids are outbox batch ids).</summary>
    public const string WriterInHand = "inHand:writer";

    /// <summary>
    /// The dead-letter code of a device message too large to keep: too large for one buffer record
    /// (<see cref="BufferDocuments.MaxRecordBytes"/>: megabytes of MQTT user properties, or a client id or topic that big),
    /// or, in external-broker mode, over the MQTT size limit; its size, payload hash and first bytes are kept.
    /// </summary>
    public const string DeviceMessageTooLarge = "DeviceMessageTooLarge";

    /// <summary>Reason a drop is counted under: the buffer was full and the policy evicts.</summary>
    public const string DroppedForCapacity = "capacity";

    /// <summary>Reason a drop is counted under: unsent data outlived <see cref="BufferOptions.TimeToLive"/>.</summary>
    public const string DroppedForTtl = "ttl_expiry";

    /// <summary>Reason a dropped dead letter is counted under: more than the dead letters' share.</summary>
    public const string DroppedDeadLetterForCapacity = "deadletter_capacity";

    /// <summary>Reason a dropped dead letter is counted under: older than <see cref="BufferOptions.DeadLetterTimeToLive"/>.</summary>
    public const string DroppedDeadLetterForTtl = "deadletter_ttl";

    private readonly BufferFile file;

    // On close: the delivered-up-to marker, which is otherwise written at most once a second.
    private readonly Action closeMarker;

    public GatewayStore(BufferOptions options, TimeProvider? timeProvider = null)
        : this(options, timeProvider, new BufferFile(Checked(options).Path, BufferFiles.OpenFile, null, CheckReadable))
    {
    }

    /// <summary>With the files (data and log) opened by <paramref name="openFile"/> (the power-cut and full-disk tests give their own).</summary>
    internal GatewayStore(BufferOptions options, TimeProvider? timeProvider, Func<string, Stream> openFile)
        : this(options, timeProvider, new BufferFile(Checked(options).Path, openFile, null, null))
    {
    }

    private GatewayStore(BufferOptions options, TimeProvider? timeProvider, BufferFile file)
    {
        this.file = file;
        var buffer = new BufferState(file, options, timeProvider ?? TimeProvider.System);
        Inbox = new Inbox(buffer);
        Outbox = new Outbox(buffer);
        DeadLetters = new DeadLetterStore(buffer);
        Upkeep = new BufferUpkeep(buffer, Outbox);
        file.Open(buffer.Load, buffer.Clear);
        closeMarker = () => buffer.Outbox.SaveMarker(buffer.Outbox.DeliveredUpTo);
    }

    public string FilePath => file.Path;

    /// <summary>Ingest's commits and Normalize's reads and rounds.</summary>
    public Inbox Inbox { get; }

    /// <summary>The forwarders' reads and deliveries.</summary>
    public Outbox Outbox { get; }

    public DeadLetterStore DeadLetters { get; }

    public BufferUpkeep Upkeep { get; }

    /// <summary>
    /// Opens an existing buffer file for inspection without writing one byte to it (LiteDB's read-only connection, no
    /// index creation, no marker on dispose). Throws <see cref="BufferFileDamagedException"/> for a missing file or
    /// one that is not a buffer, and for a buffer LiteDB cannot read.
    /// </summary>
    public static GatewayStore OpenReadOnly(string path, TimeProvider? timeProvider = null) => BufferFile.Guard(() =>
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new BufferFileDamagedException(full, "there is no file there");
        }

        if (!LiteDbEngines.HasLiteDbHeader(full))
        {
            throw new BufferFileDamagedException(full, "it is not a LiteDB file");
        }

        var store = new GatewayStore(new BufferOptions { Path = full }, timeProvider, new BufferFile(full, null, LiteDbEngines.OpenForReading, null));
        string[] collections = [InboxIndex.Collection, OutboxIndex.Collection, OutboxIndex.StateCollection, DeadLetterShelf.Collection, BufferAccounting.Collection];
        if (store.file.Database.GetCollectionNames().Except(collections, StringComparer.Ordinal).FirstOrDefault() is { } other)
        {
            // Only for inspection: the gateway's own start does not refuse a collection a newer release added.
            store.Dispose();
            throw new BufferFileDamagedException(full, $"it is a LiteDB file but not a gateway buffer (collection '{(other.Length <= 64 ? other : other[..64] + "…")}')");
        }

        return store;
    });

    public IReadOnlyList<long> Append(IReadOnlyList<InboxMessage> messages) => Inbox.Append(messages);

    public void AddDeadLetter(DeadLetter deadLetter) => Inbox.AddDeadLetter(deadLetter);

    public (long Messages, long Bytes) HeldBy(string clientId) => Inbox.HeldBy(clientId);

    public void Reopen() => Inbox.Reopen();

    public IReadOnlyList<InboxMessage> ReadInbox(int max) => Inbox.ReadInbox(max);

    public IReadOnlyList<InboxMessage> ReadInboxRange(long firstId, long lastId) => Inbox.ReadInboxRange(firstId, lastId);

    public void CompleteNormalization(IReadOnlyList<long> inboxIds, IReadOnlyList<OutboxEntry> entries, IReadOnlyList<DeadLetter> deadLetters,
        string? clearInHand = null, long? deviceMessages = null) => Inbox.CompleteNormalization(inboxIds, entries, deadLetters, clearInHand, deviceMessages);

    public InHand? ReadInHand(string stage) => Inbox.ReadInHand(stage);

    public void SetInHand(string stage, InHand inHand) => Inbox.SetInHand(stage, inHand);

    public void ClearInHand(string stage) => Inbox.ClearInHand(stage);

    public IReadOnlyList<OutboxEntry> ReadOutbox(int max, long afterBatchId = 0) => Outbox.ReadOutbox(max, afterBatchId);

    public IReadOnlyList<OutboxEntry> ReadOutboxRange(long firstId, long lastId) => Outbox.ReadOutboxRange(firstId, lastId);

    public void MarkDelivered(IReadOnlyList<long> batchIds, IReadOnlyList<GroupDeadLetter>? deadLetters = null, string? clearInHand = null) =>
        Outbox.MarkDelivered(batchIds, deadLetters, clearInHand);

    public IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null) => DeadLetters.ListDeadLetters(code);

    public IReadOnlyList<GroupDeadLetter> ListGroupDeadLetters(string? code = null) => DeadLetters.ListGroupDeadLetters(code);

    public DeadLetter? FindDeadLetter(long id) => DeadLetters.FindDeadLetter(id);

    public int ReplayDeadLetters(string? code = null) => DeadLetters.ReplayDeadLetters(code);

    public BufferStats Stats() => Upkeep.Stats();

    public int ExpireOld() => Upkeep.ExpireOld();

    public long PurgeDelivered() => Upkeep.PurgeDelivered();

    public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => Upkeep.ReclaimSpace(minimumFileBytes);

    /// <summary>Saves the delivered-up-to marker (not for a read-only file) and closes the file.</summary>
    public void Dispose()
    {
        lock (file.Gate)
        {
            if (!file.Closed)
            {
                file.Close(file.ReadOnly ? null : closeMarker);
            }
        }
    }

    private static BufferOptions Checked(BufferOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options;
    }

    /// <summary>
    /// Before the file is opened for writing, a read-only open and read of it must work: on a damaged file LiteDB's
    /// writable open changes it (it marks the header for an automatic rebuild that drops what it cannot read), and the
    /// operator's salvage needs the file as it was.
    /// </summary>
    private static void CheckReadable(string path)
    {
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            if (!LiteDbEngines.HasLiteDbHeader(path))
            {
                throw new BufferFileDamagedException(path, new InvalidDataException("not a LiteDB file"));
            }

            new GatewayStore(new BufferOptions { Path = path }, null, new BufferFile(path, null, LiteDbEngines.OpenForReading, null)).Dispose();
        }
    }
}
