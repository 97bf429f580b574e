namespace MedTech.Edge.Buffer;

/// <summary>
/// The dead letters as an operator handles them: listing both kinds, showing one, and replay (device messages to the
/// inbox, groups to the outbox, in one transaction). The steps that dead-letter store through
/// <see cref="BufferAccounting.StoreDeadLetters(IReadOnlyList{DeadLetter})"/> inside their own transaction.
/// </summary>
public sealed class DeadLetterStore : IDeadLetters
{
    private readonly BufferState buffer;

    internal DeadLetterStore(BufferState buffer) => this.buffer = buffer;

    /// <summary>The device messages' dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null) =>
        [.. Read(code).Where(d => d.Message is not null).Select(d => d.Message!)];

    /// <summary>The measurement groups' dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<GroupDeadLetter> ListGroupDeadLetters(string? code = null) =>
        [.. Read(code).Where(d => d.Group is not null).Select(d => d.Group!)];

    /// <summary>One dead letter by its id (as <see cref="ListDeadLetters"/> shows it), or null.</summary>
    public DeadLetter? FindDeadLetter(long id) => buffer.File.Locked(() =>
        buffer.File.Collection(DeadLetterShelf.Collection).FindById(id) is { } document ? BufferDocuments.ToDeadLetter(document) : null);

    /// <summary>Moves dead letters (all, or one reason code) back to the inbox (device messages) or the outbox (groups), e.g. after a mapping fix; returns how many.</summary>
    public int ReplayDeadLetters(string? code = null) => buffer.File.Locked(() =>
    {
        var toInbox = new List<InboxMessage>();
        var toOutbox = new List<(long Id, long Bytes)>();
        var addedToInbox = new List<(long Id, InboxCommit Commit)>();
        var replayedUtc = buffer.Time.GetUtcNow().UtcDateTime;
        buffer.Accounting.Run(() =>
        {
            var dead = buffer.File.Collection(DeadLetterShelf.Collection);
            var outbox = buffer.File.Collection(OutboxIndex.Collection);
            foreach (var letter in DeadLetterShelf.Find(dead, code).ToList())
            {
                var (message, group) = BufferDocuments.ToAnyDeadLetter(letter);
                if (group is not null)
                {
                    // A measurement group a forwarder could not deliver goes back to the outbox, not through
                    // normalization; it counts as one device message against the capacity.
                    var id = buffer.Outbox.LastId + 1 + toOutbox.Count;
                    var batch = BufferDocuments.ToOutboxBatch([new OutboxEntry(group.Key, group.Payload, replayedUtc)], 1);
                    outbox.Insert(id, batch);
                    toOutbox.Add((id, BufferDocuments.Bytes(batch)));
                }
                else
                {
                    toInbox.Add(message!.Message);
                }

                buffer.Accounting.RemoveDeadLetter(dead, letter);
            }

            addedToInbox = buffer.Inbox.Insert(buffer.Inbox.Numbered(toInbox).Select(m => (m, BufferDocuments.Size(m))).ToList());
            buffer.Accounting.Pending.Replayed += toInbox.Count;
        });
        buffer.Inbox.Track(addedToInbox);
        foreach (var (id, bytes) in toOutbox)
        {
            buffer.Outbox.Track(id, new OutboxBatch(1, 1, bytes, replayedUtc, []));
        }

        return toInbox.Count + toOutbox.Count;
    });

    private List<(DeadLetter? Message, GroupDeadLetter? Group)> Read(string? code) => buffer.File.Locked(() =>
        DeadLetterShelf.Find(buffer.File.Collection(DeadLetterShelf.Collection), code).OrderBy(d => d["_id"].AsInt64).Select(BufferDocuments.ToAnyDeadLetter).ToList());
}
