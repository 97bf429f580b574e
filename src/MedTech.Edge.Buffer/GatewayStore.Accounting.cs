using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Statistics and the durable accounting: committed, replayed, normalized, dead-lettered, dropped from the inbox, and
/// the dead letters' bytes, moved in the transactions that move their messages, so that
/// <see cref="BufferStats.Unaccounted"/> is zero across crashes and restarts. They are one document, written only by
/// transactions that change them, except that a commit's total of committed messages goes into the inbox document
/// that commit writes anyway (an extra write per commit cost ingest measurably); at open the larger total wins.
/// </summary>
public sealed partial class GatewayStore
{
    private const string AccountingId = "acct";

    // Accounting as last committed, and as the running transaction changes it (it replaces the first once committed).
    private Accounting accounting;
    private Accounting pending;

    /// <summary>The totals; <see cref="DeadLetterCount"/> is counted from the file at open, not stored.</summary>
    private record struct Accounting(long Committed, long Replayed, long Normalized, long DeadLettered, long DroppedFromInbox, long DeadLetterBytes, long DeadLetterCount);

    public BufferStats Stats() => Guard<BufferStats>(() =>
    {
        lock (gate)
        {
            var oldest = new[] { OldestInInbox(), undelivered.Count == 0 ? null : undeliveredBatches[undelivered.Min].CreatedUtc }.Where(t => t is not null).Min();
            var dropped = db.GetCollection(Counters).FindAll().Where(c => c["_id"].IsString && c["_id"].AsString != AccountingId)
                .ToDictionary(c => c["_id"].AsString, c => c["count"].AsInt64, StringComparer.Ordinal);
            return new BufferStats(inboxCount, outboxCount, accounting.DeadLetterCount,
                oldest is null ? null : time.GetUtcNow().UtcDateTime - oldest.Value, FileBytes(), dropped, awaitingPurge)
            {
                OutboxMessages = outboxMessages,
                UnsentBytes = inboxBytes + outboxBytes,
                DeadLetterBytes = accounting.DeadLetterBytes,
                Committed = accounting.Committed,
                Replayed = accounting.Replayed,
                Normalized = accounting.Normalized,
                DeadLettered = accounting.DeadLettered,
                DroppedFromInbox = accounting.DroppedFromInbox,
            };
        }
    });

    /// <summary>
    /// Runs <paramref name="work"/> as one transaction (by default <see cref="Transaction"/>) in which it may change
    /// <see cref="pending"/>; a change is written in that transaction and becomes <see cref="accounting"/> once committed.
    /// </summary>
    private void Accounted(Action work, Action<Action>? transaction = null)
    {
        pending = accounting;
        (transaction ?? Transaction)(() =>
        {
            work();
            if (pending != accounting)
            {
                SaveAccounting();
            }
        });
        accounting = pending;
    }

    /// <summary>Writes <see cref="pending"/>, inside the caller's transaction.</summary>
    private void SaveAccounting() => db.GetCollection(Counters).Upsert(new BsonDocument
    {
        ["_id"] = AccountingId,
        ["committed"] = pending.Committed,
        ["replayed"] = pending.Replayed,
        ["normalized"] = pending.Normalized,
        ["deadLettered"] = pending.DeadLettered,
        ["droppedFromInbox"] = pending.DroppedFromInbox,
        ["deadLetterBytes"] = pending.DeadLetterBytes,
    });

    /// <summary>
    /// At open, after the inbox is loaded (<paramref name="committedInInbox"/>: the largest total an inbox document
    /// carries). A file written before the accounting existed starts it: its inbox messages count as committed and its
    /// dead letters are measured once.
    /// </summary>
    private void LoadAccounting(long committedInInbox)
    {
        var dead = db.GetCollection(DeadLetters);
        var count = dead.LongCount();
        if (db.GetCollection(Counters).FindById(AccountingId) is { } stored)
        {
            accounting = new Accounting(Math.Max(stored["committed"].AsInt64, committedInInbox), stored["replayed"].AsInt64,
                stored["normalized"].AsInt64, stored["deadLettered"].AsInt64, stored["droppedFromInbox"].AsInt64, stored["deadLetterBytes"].AsInt64, count);
            return;
        }

        accounting = new Accounting { Committed = inboxCount, DeadLetterBytes = dead.FindAll().Sum(DeadLetterShelf.BytesOf), DeadLetterCount = count };
        Transaction(() =>
        {
            pending = accounting;
            SaveAccounting();
        });
    }

    /// <summary>As <see cref="LoadAccounting"/>, for a store opened read-only: nothing is written.</summary>
    private void LoadAccountingReadOnly(long committedInInbox)
    {
        var count = db.GetCollection(DeadLetters).LongCount();
        accounting = db.GetCollection(Counters).FindById(AccountingId) is { } stored
            ? new Accounting(Math.Max(stored["committed"].AsInt64, committedInInbox), stored["replayed"].AsInt64, stored["normalized"].AsInt64,
                stored["deadLettered"].AsInt64, stored["droppedFromInbox"].AsInt64, stored["deadLetterBytes"].AsInt64, count)
            : new Accounting { Committed = inboxCount, DeadLetterCount = count };
    }

    /// <summary>Adds <paramref name="count"/> to the drop counter of <paramref name="reason"/>, inside the caller's transaction.</summary>
    private void Count(string reason, long count)
    {
        if (count == 0)
        {
            return;
        }

        var counters = db.GetCollection(Counters);
        var current = counters.FindById(reason)?["count"].AsInt64 ?? 0;
        counters.Upsert(new BsonDocument { ["_id"] = reason, ["count"] = current + count });
    }
}
