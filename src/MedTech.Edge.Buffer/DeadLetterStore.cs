using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The dead letters: listing both kinds, replay (device messages to the inbox, groups to the outbox, in one
/// transaction), and storing within their share through <see cref="DeadLetterShelf"/> for the steps that dead-letter
/// inside their own transaction.
/// </summary>
public sealed class DeadLetterStore : IDeadLetters
{
    private readonly BufferFile file;
    private readonly BufferState state;
    private readonly DeadLetterShelf shelf;
    private readonly BufferOptions options;
    private readonly TimeProvider time;

    internal DeadLetterStore(BufferFile file, BufferState state, BufferOptions options, TimeProvider time)
    {
        this.file = file;
        this.state = state;
        this.options = options;
        this.time = time;
        shelf = new DeadLetterShelf(options);
    }

    private ref Accounting Pending => ref state.Accounting.Pending;

    /// <summary>The device messages' dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null) =>
        [.. Read(code).Where(d => d.Message is not null).Select(d => d.Message!)];

    /// <summary>The measurement groups' dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<GroupDeadLetter> ListGroupDeadLetters(string? code = null) =>
        [.. Read(code).Where(d => d.Group is not null).Select(d => d.Group!)];

    /// <summary>One dead letter by its id (as <see cref="ListDeadLetters"/> shows it), or null.</summary>
    public DeadLetter? FindDeadLetter(long id) => file.Locked(() =>
        file.Collection(BufferCollections.DeadLetters).FindById(id) is { } document ? BufferDocuments.ToDeadLetter(document) : null);

    /// <summary>Moves dead letters (all, or one reason code) back to the inbox (device messages) or the outbox (groups), e.g. after a mapping fix; returns how many.</summary>
    public int ReplayDeadLetters(string? code = null) => file.Locked(() =>
    {
        var toInbox = new List<InboxMessage>();
        var toOutbox = new List<(long Id, long Bytes)>();
        var addedToInbox = new List<(long Id, InboxCommit Commit)>();
        var replayedUtc = time.GetUtcNow().UtcDateTime;
        state.Accounting.Run(() =>
        {
            var dead = file.Collection(BufferCollections.DeadLetters);
            var outbox = file.Collection(BufferCollections.Outbox);
            foreach (var letter in DeadLetterShelf.Find(dead, code).ToList())
            {
                var (message, group) = BufferDocuments.ToAnyDeadLetter(letter);
                if (group is not null)
                {
                    // A measurement group a forwarder could not deliver goes back to the outbox, not through
                    // normalization; it counts as one device message against the capacity.
                    var id = state.Outbox.LastId + 1 + toOutbox.Count;
                    var batch = BufferDocuments.ToOutboxBatch([new OutboxEntry(group.Key, group.Payload, replayedUtc)], 1);
                    outbox.Insert(id, batch);
                    toOutbox.Add((id, BufferDocuments.Bytes(batch)));
                }
                else
                {
                    toInbox.Add(message!.Message);
                }

                (Pending.DeadLetterCount, Pending.DeadLetterBytes) = DeadLetterShelf.Remove(dead, letter, Pending.DeadLetterCount, Pending.DeadLetterBytes);
            }

            addedToInbox = state.Inbox.Insert(state.Inbox.Numbered(toInbox).Select(m => (m, BufferDocuments.Size(m))).ToList());
            Pending.Replayed += toInbox.Count;
        });
        state.Inbox.Track(addedToInbox);
        foreach (var (id, bytes) in toOutbox)
        {
            state.Outbox.Track(id, new OutboxBatch(1, 1, bytes, replayedUtc, []));
        }

        return toInbox.Count + toOutbox.Count;
    });

    /// <summary>Stores one dead letter from ingest in its own transaction; when this returns it is committed and the message may be acknowledged.</summary>
    internal void Add(DeadLetter deadLetter) => file.Locked(() =>
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        file.Transaction(() => file.Collection(BufferCollections.DeadLetters).Insert(BufferDocuments.ToDocument(deadLetter)));
        if (options.ForceToDisk)
        {
            // As for the inbox: the broker forgets the message on our ack.
            file.ForceToDisk();
        }
    });

    /// <summary>
    /// Inserts dead letters (code and reason bounded, the message byte for byte) within their share
    /// (<see cref="DeadLetterShelf.Store"/>), counting what that drops; inside the caller's accounted transaction.
    /// </summary>
    internal void Store(IReadOnlyList<DeadLetter> deadLetters) => Store(deadLetters.Select(BufferDocuments.ToDocument).ToList());

    /// <inheritdoc cref="Store(IReadOnlyList{DeadLetter})"/>
    internal void Store(IReadOnlyList<GroupDeadLetter> deadLetters) => Store(deadLetters.Select(BufferDocuments.ToDocument).ToList());

    /// <summary>Drops dead letters stored before <paramref name="cutoff"/>, counting them; inside the caller's accounted transaction.</summary>
    internal void Expire(DateTime cutoff) =>
        Counted(DeadLetterShelf.Expire(file.Collection(BufferCollections.DeadLetters), cutoff, Totals()), GatewayStore.DroppedDeadLetterForTtl);

    private void Store(List<BsonDocument> documents)
    {
        if (documents.Count > 0)
        {
            Counted(shelf.Store(file.Collection(BufferCollections.DeadLetters), documents, Totals()), GatewayStore.DroppedDeadLetterForCapacity);
        }
    }

    private List<(DeadLetter? Message, GroupDeadLetter? Group)> Read(string? code) => file.Locked(() =>
        DeadLetterShelf.Find(file.Collection(BufferCollections.DeadLetters), code).OrderBy(d => d["_id"].AsInt64).Select(BufferDocuments.ToAnyDeadLetter).ToList());

    private DeadLetterShelf.Totals Totals() => new(Pending.DeadLetterCount, Pending.DeadLetterBytes);

    private void Counted(DeadLetterShelf.Totals totals, string reason)
    {
        Pending.DeadLetterCount = totals.Count;
        Pending.DeadLetterBytes = totals.Bytes;
        state.Accounting.Count(reason, totals.Dropped);
    }
}
