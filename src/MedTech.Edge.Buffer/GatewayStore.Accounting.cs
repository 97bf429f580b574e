using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Statistics and the durable counters: drops by reason, and the accounting counters (committed, replayed,
/// normalized, dead-lettered, dropped from the inbox), each moved in the transaction that moves its messages, so that
/// <see cref="BufferStats.Unaccounted"/> is zero across crashes and restarts.
/// </summary>
public sealed partial class GatewayStore
{
    // Accounting counters share the counters collection with the drop reasons; the prefix keeps them out of Dropped.
    private const string AccountingPrefix = "acct.";
    private const string CommittedCounter = AccountingPrefix + "committed";
    private const string ReplayedCounter = AccountingPrefix + "replayed";
    private const string NormalizedCounter = AccountingPrefix + "normalized";
    private const string DeadLetteredCounter = AccountingPrefix + "deadlettered";
    private const string DroppedFromInboxCounter = AccountingPrefix + "droppedFromInbox";
    private const string DeadLetterBytesCounter = AccountingPrefix + "deadLetterBytes";

    public BufferStats Stats()
    {
        lock (gate)
        {
            var oldest = new[] { OldestInInbox(), undelivered.Count == 0 ? null : undeliveredBatches[undelivered.Min].CreatedUtc }.Where(t => t is not null).Min();
            var counters = db.GetCollection(Counters).FindAll().ToDictionary(c => c["_id"].AsString, c => c["count"].AsInt64, StringComparer.Ordinal);
            var dropped = counters.Where(c => !c.Key.StartsWith(AccountingPrefix, StringComparison.Ordinal)).ToDictionary(StringComparer.Ordinal);
            long Counter(string name) => counters.GetValueOrDefault(name);
            return new BufferStats(inboxCount, outboxCount, deadLetterCount,
                oldest is null ? null : time.GetUtcNow().UtcDateTime - oldest.Value, FileBytes(), dropped, awaitingPurge)
            {
                OutboxMessages = outboxMessages,
                UnsentBytes = inboxBytes + outboxBytes,
                DeadLetterBytes = deadLetterBytes,
                Committed = Counter(CommittedCounter),
                Replayed = Counter(ReplayedCounter),
                Normalized = Counter(NormalizedCounter),
                DeadLettered = Counter(DeadLetteredCounter),
                DroppedFromInbox = Counter(DroppedFromInboxCounter),
            };
        }
    }

    /// <summary>
    /// At open: the dead letters held, and the accounting of a file written before it existed. Such a file's inbox
    /// messages count as committed (the counters start there), and its dead letters are measured once.
    /// </summary>
    private void LoadAccounting()
    {
        var dead = db.GetCollection(DeadLetters);
        deadLetterCount = dead.LongCount();
        var counters = db.GetCollection(Counters);
        if (counters.FindById(CommittedCounter) is not null && counters.FindById(DeadLetterBytesCounter) is { } bytes)
        {
            deadLetterBytes = bytes["count"].AsInt64;
            return;
        }

        var measured = dead.FindAll().Sum(DeadLetterBytes);
        Transaction(() =>
        {
            if (counters.FindById(CommittedCounter) is null)
            {
                counters.Upsert(new BsonDocument { ["_id"] = CommittedCounter, ["count"] = inboxCount });
            }

            counters.Upsert(new BsonDocument { ["_id"] = DeadLetterBytesCounter, ["count"] = measured });
        });
        deadLetterBytes = measured;
    }

    /// <summary>Adds <paramref name="count"/> to a counter, inside the caller's transaction.</summary>
    private void Count(string counter, long count)
    {
        if (count == 0)
        {
            return;
        }

        var counters = db.GetCollection(Counters);
        var current = counters.FindById(counter)?["count"].AsInt64 ?? 0;
        counters.Upsert(new BsonDocument { ["_id"] = counter, ["count"] = current + count });
    }
}
