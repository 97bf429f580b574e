using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>Dead letters, capacity, time-to-live, space reclaim and statistics.</summary>
public sealed partial class GatewayStore
{
    /// <summary>Reason a drop is counted under: the buffer was full and the policy evicts.</summary>
    public const string DroppedForCapacity = "capacity";

    /// <summary>Reason a drop is counted under: unsent data outlived <see cref="BufferOptions.TimeToLive"/>.</summary>
    public const string DroppedForTtl = "ttl_expiry";

    /// <summary>
    /// The topic of a dead letter that holds a measurement group (key in the client id), not a device message: one
    /// the hub refused for good, or the in-process FHIR writer could not write. Replay puts it back into the outbox.
    /// </summary>
    public const string DeliveryTopic = "$medtech/fhir-writer";

    /// <summary>"Nearly drained": below this many undelivered messages, delivered batches are purged.</summary>
    private const long PurgeWhileUndeliveredBelow = 10_000;

    /// <summary>Dead letters, oldest first, optionally only one reason code.</summary>
    public IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null)
    {
        lock (gate)
        {
            var dead = db.GetCollection(DeadLetters);
            return (code is null ? dead.FindAll() : dead.Find(Query.EQ("code", code))).Select(BufferDocuments.ToDeadLetter).OrderBy(d => d.Id).ToList();
        }
    }

    /// <summary>Moves dead letters (all, or one reason code) back to the inbox (device messages) or the outbox (groups), e.g. after a mapping fix; returns how many.</summary>
    public int ReplayDeadLetters(string? code = null)
    {
        lock (gate)
        {
            var toInbox = new List<InboxMessage>();
            var toOutbox = new List<long>();
            var addedToInbox = new List<(long Id, InboxCommit Commit)>();
            var replayedUtc = time.GetUtcNow().UtcDateTime;
            Transaction(() =>
            {
                var dead = db.GetCollection(DeadLetters);
                var outbox = Collection(Outbox);
                foreach (var letter in (code is null ? dead.FindAll() : dead.Find(Query.EQ("code", code))).ToList())
                {
                    var message = BufferDocuments.ToDeadLetter(letter).Message;
                    if (message.Topic == DeliveryTopic)
                    {
                        // A measurement group the FHIR writer could not deliver goes back to the outbox, not through normalization.
                        var id = lastOutboxId + 1 + toOutbox.Count;
                        outbox.Insert(id, BufferDocuments.ToOutboxBatch([new OutboxEntry(message.ClientId, message.Payload, replayedUtc)]));
                        toOutbox.Add(id);
                    }
                    else
                    {
                        toInbox.Add(message);
                    }

                    dead.Delete(letter["_id"]);
                }

                addedToInbox = InsertInbox(Numbered(toInbox));
            });
            TrackInbox(addedToInbox);
            foreach (var id in toOutbox)
            {
                lastOutboxId = id;
                TrackUndelivered(id, 1, replayedUtc);
            }

            return toInbox.Count + toOutbox.Count;
        }
    }

    /// <summary>Drops unsent data older than the time-to-live, oldest first, and counts it; returns how many.</summary>
    public int ExpireOld()
    {
        var cutoff = time.GetUtcNow().UtcDateTime - options.TimeToLive;
        lock (gate)
        {
            var dropped = NothingDropped;
            Transaction(() => dropped = DropOldest(cutoff, long.MaxValue, DroppedForTtl));
            return (int)Forget(dropped);
        }
    }

    /// <summary>
    /// Gives disk space back after a long outage has drained: LiteDB reuses freed pages but never shrinks the file,
    /// so when the file is large and mostly free it is rebuilt (about 43 µs per live document; ingest waits).
    /// </summary>
    public bool ReclaimSpace(long minimumFileBytes = 64L << 20)
    {
        lock (gate)
        {
            var live = inboxCount + outboxCount + awaitingPurge + db.GetCollection(DeadLetters).LongCount();
            if (FileBytes() < minimumFileBytes || live * 2048 > FileBytes() / 4)
            {
                return false;
            }

            db.Rebuild();
            return true;
        }
    }

    public BufferStats Stats()
    {
        lock (gate)
        {
            var oldest = new[] { OldestInInbox(), undelivered.Count == 0 ? null : undeliveredBatches[undelivered.Min].CreatedUtc }.Where(t => t is not null).Min();
            var dropped = db.GetCollection(Counters).FindAll().ToDictionary(c => c["_id"].AsString, c => c["count"].AsInt64);
            return new BufferStats(inboxCount, outboxCount, db.GetCollection(DeadLetters).LongCount(),
                oldest is null ? null : time.GetUtcNow().UtcDateTime - oldest.Value, FileBytes(), dropped, awaitingPurge);
        }
    }

    /// <summary>
    /// Deletes outbox batches the next stage has (<see cref="MarkDelivered"/>), oldest first, in transactions of a few
    /// batches so ingest commits interleave. Runs while the outbox is nearly drained (forwarding comes first), or when
    /// delivered batches reach half <see cref="BufferOptions.MaxMessages"/> (the file stays bounded under a backlog
    /// that never drains). Returns how many messages' batches were deleted.
    /// </summary>
    public long PurgeDelivered()
    {
        long purged = 0;
        while (true)
        {
            lock (gate)
            {
                if (awaitingPurge == 0 || (outboxCount > PurgeWhileUndeliveredBelow && awaitingPurge < options.MaxMessages / 2))
                {
                    return purged;
                }

                long units = 0;
                SaveMarker(deliveredUpTo, () =>
                {
                    var outbox = Collection(Outbox);
                    foreach (var batch in outbox.Find(Query.LTE("_id", deliveredUpTo), 0, 4).ToList())
                    {
                        outbox.Delete(batch["_id"]);
                        units += BufferDocuments.Units(batch);
                    }
                });
                if (units == 0)
                {
                    // What is left was delivered ahead of an older batch: it waits until the marker passes it.
                    return purged;
                }

                awaitingPurge = Math.Max(0, awaitingPurge - units);
                purged += units;
            }
        }
    }

    /// <summary>
    /// Deletes unsent data from the oldest (outbox first: it is older) while it is from before <paramref name="cutoff"/>,
    /// until at least <paramref name="max"/> messages are gone, and counts them under <paramref name="reason"/>. Runs
    /// inside the caller's transaction; the caller passes the result to <see cref="Forget"/> once that has committed.
    /// </summary>
    private (List<long> OutboxBatches, List<InboxChange> Inbox) DropOldest(DateTime cutoff, long max, string reason)
    {
        var batches = DeleteOldestUndelivered(cutoff, max);
        var fromOutbox = batches.Sum(id => (long)undeliveredBatches[id].Units);
        var inbox = DeleteOldestInInbox(cutoff, max - fromOutbox);
        Count(reason, fromOutbox + Removed(inbox));
        return (batches, inbox);
    }

    private static (List<long> OutboxBatches, List<InboxChange> Inbox) NothingDropped => ([], []);

    /// <summary>Updates the in-memory counts after a committed <see cref="DropOldest"/>; returns how many messages went.</summary>
    private long Forget((List<long> OutboxBatches, List<InboxChange> Inbox) dropped) =>
        ApplyInbox(dropped.Inbox) + dropped.OutboxBatches.Sum(id => (long)UntrackUndelivered(id));

    /// <summary>
    /// Deletes undelivered outbox batches from the oldest while created before <paramref name="cutoff"/>, until at
    /// least <paramref name="max"/> messages are gone; returns their ids (the caller untracks them after its commit).
    /// </summary>
    private List<long> DeleteOldestUndelivered(DateTime cutoff, long max)
    {
        var outbox = Collection(Outbox);
        var deleted = new List<long>();
        long units = 0;
        foreach (var id in undelivered)
        {
            if (units >= max || undeliveredBatches[id].CreatedUtc >= cutoff)
            {
                break;
            }

            outbox.Delete(id);
            deleted.Add(id);
            units += undeliveredBatches[id].Units;
        }

        return deleted;
    }

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

    private long FileBytes() => new FileInfo(FilePath).Length + (File.Exists(LogPath) ? new FileInfo(LogPath).Length : 0);

    private string LogPath => System.IO.Path.ChangeExtension(FilePath, null) + "-log" + System.IO.Path.GetExtension(FilePath);
}
