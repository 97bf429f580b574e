using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Dead letters: every producer's go through <see cref="StoreDeadLetters"/>, which bounds their text and keeps them to
/// their own share of the file (<see cref="BufferOptions.MaxDeadLetters"/>, <see cref="BufferOptions.MaxDeadLetterBytes"/>,
/// <see cref="BufferOptions.DeadLetterTimeToLive"/>): beyond it the oldest go, counted, so a device sending garbage
/// cannot grow the file without end.
/// </summary>
public sealed partial class GatewayStore
{
    /// <summary>Reason a dropped dead letter is counted under: more than the dead letters' share.</summary>
    public const string DroppedDeadLetterForCapacity = "deadletter_capacity";

    /// <summary>Reason a dropped dead letter is counted under: older than <see cref="BufferOptions.DeadLetterTimeToLive"/>.</summary>
    public const string DroppedDeadLetterForTtl = "deadletter_ttl";

    /// <summary>The device messages' dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null) => Guard<IReadOnlyList<DeadLetter>>(() =>
        [.. ReadDeadLetters(code).Where(d => d.Message is not null).Select(d => d.Message!)]);

    /// <summary>The measurement groups' dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<GroupDeadLetter> ListGroupDeadLetters(string? code = null) => Guard<IReadOnlyList<GroupDeadLetter>>(() =>
        [.. ReadDeadLetters(code).Where(d => d.Group is not null).Select(d => d.Group!)]);

    private List<(DeadLetter? Message, GroupDeadLetter? Group)> ReadDeadLetters(string? code)
    {
        lock (gate)
        {
            var dead = Collection(DeadLetters);
            return (code is null ? dead.FindAll() : dead.Find(Query.EQ("code", code))).OrderBy(d => d["_id"].AsInt64).Select(BufferDocuments.ToAnyDeadLetter).ToList();
        }
    }

    /// <summary>One dead letter by its id (as <see cref="ListDeadLetters"/> shows it), or null.</summary>
    public DeadLetter? FindDeadLetter(long id)
    {
        lock (gate)
        {
            return Collection(DeadLetters).FindById(id) is { } document ? BufferDocuments.ToDeadLetter(document) : null;
        }
    }

    /// <summary>Moves dead letters (all, or one reason code) back to the inbox (device messages) or the outbox (groups), e.g. after a mapping fix; returns how many.</summary>
    public int ReplayDeadLetters(string? code = null) => Guard<int>(() =>
    {
        lock (gate)
        {
            var toInbox = new List<InboxMessage>();
            var toOutbox = new List<(long Id, long Bytes)>();
            var addedToInbox = new List<(long Id, InboxCommit Commit)>();
            var replayedUtc = time.GetUtcNow().UtcDateTime;
            Accounted(() =>
            {
                var dead = Collection(DeadLetters);
                var outbox = Collection(Outbox);
                foreach (var letter in (code is null ? dead.FindAll() : dead.Find(Query.EQ("code", code))).ToList())
                {
                    var (message, group) = BufferDocuments.ToAnyDeadLetter(letter);
                    if (group is not null)
                    {
                        // A measurement group a forwarder could not deliver goes back to the outbox, not through
                        // normalization; it counts as one device message against the capacity.
                        var id = lastOutboxId + 1 + toOutbox.Count;
                        var batch = BufferDocuments.ToOutboxBatch([new OutboxEntry(group.Key, group.Payload, replayedUtc)], 1);
                        outbox.Insert(id, batch);
                        toOutbox.Add((id, BufferDocuments.Bytes(batch)));
                    }
                    else
                    {
                        toInbox.Add(message!.Message);
                    }

                    Delete(dead, letter);
                }

                addedToInbox = InsertInbox(Numbered(toInbox).Select(m => (m, BufferDocuments.Size(m))).ToList());
                pending.Replayed += toInbox.Count;
            });
            TrackInbox(addedToInbox);
            foreach (var (id, bytes) in toOutbox)
            {
                lastOutboxId = id;
                TrackUndelivered(id, new OutboxBatch(1, 1, bytes, replayedUtc, []));
            }

            return toInbox.Count + toOutbox.Count;
        }
    });

    /// <summary>
    /// Inserts dead letters (code and reason bounded, the message byte for byte), then drops the oldest while the
    /// dead letters are over their share, counting them; inside the caller's <see cref="Accounted"/> transaction.
    /// </summary>
    private void StoreDeadLetters(IReadOnlyList<DeadLetter> deadLetters) => StoreDeadLetters(deadLetters.Select(BufferDocuments.ToDocument).ToList());

    /// <inheritdoc cref="StoreDeadLetters(IReadOnlyList{DeadLetter})"/>
    private void StoreDeadLetters(IReadOnlyList<GroupDeadLetter> deadLetters) => StoreDeadLetters(deadLetters.Select(BufferDocuments.ToDocument).ToList());

    private void StoreDeadLetters(List<BsonDocument> documents)
    {
        if (documents.Count == 0)
        {
            return;
        }

        var dead = Collection(DeadLetters);
        foreach (var document in documents)
        {
            dead.Insert(document);
            pending.DeadLetterCount++;
            pending.DeadLetterBytes += DeadLetterBytes(document);
        }

        long dropped = 0;
        while (OverShare() && Oldest(dead) is { } oldest)
        {
            Delete(dead, oldest);
            dropped++;
        }

        Count(DroppedDeadLetterForCapacity, dropped);
    }

    private bool OverShare() => pending.DeadLetterCount > options.MaxDeadLetters || pending.DeadLetterBytes > options.MaxDeadLetterBytes;

    /// <summary>Drops dead letters stored before <paramref name="cutoff"/>, oldest first, counting them; inside the caller's <see cref="Accounted"/> transaction.</summary>
    private void ExpireDeadLetters(DateTime cutoff)
    {
        var dead = Collection(DeadLetters);
        long dropped = 0;

        // By id, the order they were stored in: the first one not yet due ends it (a clock step back only delays some).
        while (Oldest(dead) is { } oldest && oldest["deadLetteredUtc"].AsDateTime.ToUniversalTime() < cutoff)
        {
            Delete(dead, oldest);
            dropped++;
        }

        Count(DroppedDeadLetterForTtl, dropped);
    }

    /// <summary>The oldest dead letter, one at a time: each is read whole (a payload of up to megabytes), so none more than needed.</summary>
    private static BsonDocument? Oldest(ILiteCollection<BsonDocument> dead) => dead.Find(Query.All(), 0, 1).FirstOrDefault();

    private void Delete(ILiteCollection<BsonDocument> dead, BsonDocument letter)
    {
        dead.Delete(letter["_id"]);
        pending.DeadLetterCount--;
        pending.DeadLetterBytes -= DeadLetterBytes(letter);
    }

    /// <summary>What a dead letter counts against <see cref="BufferOptions.MaxDeadLetterBytes"/>: its message record and its reason.</summary>
    private static long DeadLetterBytes(BsonDocument letter) => BufferDocuments.Bytes(letter) + (2L * letter["reason"].AsString.Length);
}
