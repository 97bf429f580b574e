using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>The totals; <see cref="DeadLetterCount"/> is counted from the file at open, not stored.</summary>
internal record struct Accounting(long Committed, long Replayed, long Normalized, long DeadLettered, long DroppedFromInbox, long DeadLetterBytes, long DeadLetterCount);

/// <summary>
/// The durable accounting: committed, replayed, normalized, dead-lettered, dropped from the inbox, and the dead
/// letters' count and bytes, moved in the transactions that move their messages, so that
/// <see cref="BufferStats.Unaccounted"/> is zero across crashes and restarts; and the drop counters by reason. The
/// totals are one document, written only by transactions that change them, except that a commit's total of committed
/// messages goes into the inbox document that commit writes anyway (an extra write per commit cost ingest
/// measurably); at open the larger total wins. Dead letters are stored here too, since their share moves the totals.
/// </summary>
internal sealed class BufferAccounting(BufferFile file, BufferOptions options)
{
    public const string Collection = "counters";

    private const string AccountingId = "acct";

    // The stored totals' fields (DeadLetterCount is not stored).
    private static readonly (string Field, Func<Accounting, long> Value)[] Stored =
    [
        ("committed", a => a.Committed), ("replayed", a => a.Replayed), ("normalized", a => a.Normalized),
        ("deadLettered", a => a.DeadLettered), ("droppedFromInbox", a => a.DroppedFromInbox), ("deadLetterBytes", a => a.DeadLetterBytes),
    ];

    private readonly DeadLetterShelf shelf = new(options);

    // As last committed, and as the running transaction changes it (it replaces the first once committed).
    private Accounting current;
    private Accounting pending;

    public Accounting Current => current;

    /// <summary>The totals as the running transaction changes them.</summary>
    public ref Accounting Pending => ref pending;

    /// <summary>
    /// Runs <paramref name="work"/> as one transaction (by default <see cref="BufferFile.Transaction"/>) in which it may
    /// change <see cref="Pending"/>; a change is written in that transaction and becomes <see cref="Current"/> once committed.
    /// </summary>
    public void Run(Action work, Action<Action>? transaction = null)
    {
        pending = current;
        (transaction ?? file.Transaction)(() =>
        {
            work();
            if (pending != current)
            {
                Save();
            }
        });
        Committed();
    }

    /// <summary>The transaction that changed <see cref="Pending"/> has committed.</summary>
    public void Committed() => current = pending;

    /// <summary>Writes <see cref="Pending"/>, inside the caller's transaction.</summary>
    public void Save()
    {
        var document = new BsonDocument { ["_id"] = AccountingId };
        foreach (var (field, value) in Stored)
        {
            document[field] = value(pending);
        }

        file.Database.GetCollection(Collection).Upsert(document);
    }

    /// <summary>
    /// At open, after the inbox is loaded (<paramref name="committedInInbox"/>: the largest total an inbox document
    /// carries; <paramref name="inInbox"/>: its messages). A file written before the accounting existed starts it: its
    /// inbox messages count as committed and its dead letters are measured once (not written when read-only; inspection
    /// reads the accounting as stored, and a file from before it existed shows none).
    /// </summary>
    public void Load(long committedInInbox, long inInbox)
    {
        var dead = file.Database.GetCollection(DeadLetterShelf.Collection);
        var count = dead.LongCount();
        if (file.Database.GetCollection(Collection).FindById(AccountingId) is { } stored)
        {
            current = new Accounting(Math.Max(stored["committed"].AsInt64, committedInInbox), stored["replayed"].AsInt64,
                stored["normalized"].AsInt64, stored["deadLettered"].AsInt64, stored["droppedFromInbox"].AsInt64, stored["deadLetterBytes"].AsInt64, count);
        }
        else if (file.ReadOnly)
        {
            current = new Accounting { Committed = inInbox, DeadLetterCount = count };
        }
        else
        {
            current = new Accounting { Committed = inInbox, DeadLetterBytes = dead.FindAll().Sum(DeadLetterShelf.BytesOf), DeadLetterCount = count };
            file.Transaction(() =>
            {
                pending = current;
                Save();
            });
        }
    }

    /// <summary>Adds <paramref name="count"/> to the drop counter of <paramref name="reason"/>, inside the caller's transaction.</summary>
    public void Count(string reason, long count)
    {
        if (count == 0)
        {
            return;
        }

        var counters = file.Database.GetCollection(Collection);
        var now = counters.FindById(reason)?["count"].AsInt64 ?? 0;
        counters.Upsert(new BsonDocument { ["_id"] = reason, ["count"] = now + count });
    }

    /// <summary>The drop counters by reason, as committed.</summary>
    public Dictionary<string, long> Dropped() =>
        file.Database.GetCollection(Collection).FindAll().Where(c => c["_id"].IsString && c["_id"].AsString != AccountingId)
            .ToDictionary(c => c["_id"].AsString, c => c["count"].AsInt64, StringComparer.Ordinal);

    /// <summary>
    /// Inserts dead letters (code and reason bounded, the message byte for byte) within their share
    /// (<see cref="DeadLetterShelf.Store"/>), counting what that drops; inside the caller's <see cref="Run"/>.
    /// </summary>
    public void StoreDeadLetters(IReadOnlyList<DeadLetter> deadLetters) => StoreDeadLetters(deadLetters.Select(BufferDocuments.ToDocument).ToList());

    /// <inheritdoc cref="StoreDeadLetters(IReadOnlyList{DeadLetter})"/>
    public void StoreDeadLetters(IReadOnlyList<GroupDeadLetter> deadLetters) => StoreDeadLetters(deadLetters.Select(BufferDocuments.ToDocument).ToList());

    /// <summary>Drops dead letters stored before <paramref name="cutoff"/>, counting them; inside the caller's <see cref="Run"/>.</summary>
    public void ExpireDeadLetters(DateTime cutoff) =>
        Counted(DeadLetterShelf.Expire(file.Collection(DeadLetterShelf.Collection), cutoff, Totals()), GatewayStore.DroppedDeadLetterForTtl);

    /// <summary>Deletes one dead letter (replayed); inside the caller's <see cref="Run"/>.</summary>
    public void RemoveDeadLetter(ILiteCollection<BsonDocument> dead, BsonDocument letter) =>
        (pending.DeadLetterCount, pending.DeadLetterBytes) = DeadLetterShelf.Remove(dead, letter, pending.DeadLetterCount, pending.DeadLetterBytes);

    private void StoreDeadLetters(List<BsonDocument> documents)
    {
        if (documents.Count > 0)
        {
            Counted(shelf.Store(file.Collection(DeadLetterShelf.Collection), documents, Totals()), GatewayStore.DroppedDeadLetterForCapacity);
        }
    }

    private DeadLetterShelf.Totals Totals() => new(pending.DeadLetterCount, pending.DeadLetterBytes);

    private void Counted(DeadLetterShelf.Totals totals, string reason)
    {
        pending.DeadLetterCount = totals.Count;
        pending.DeadLetterBytes = totals.Bytes;
        Count(reason, totals.Dropped);
    }
}
