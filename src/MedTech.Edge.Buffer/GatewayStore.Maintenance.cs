using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>Capacity, time-to-live, space reclaim and purging of delivered batches.</summary>
public sealed partial class GatewayStore
{
    /// <summary>Reason a drop is counted under: the buffer was full and the policy evicts.</summary>
    public const string DroppedForCapacity = "capacity";

    /// <summary>Reason a drop is counted under: unsent data outlived <see cref="BufferOptions.TimeToLive"/>.</summary>
    public const string DroppedForTtl = "ttl_expiry";

    /// <summary>"Nearly drained": below this many undelivered messages, delivered batches are purged.</summary>
    private const long PurgeWhileUndeliveredBelow = 10_000;

    /// <summary>
    /// Drops unsent data older than the time-to-live, oldest first, and counts it; returns how many device messages.
    /// Dead letters older than <see cref="BufferOptions.DeadLetterTimeToLive"/> go too, counted as <see cref="DroppedDeadLetterForTtl"/>.
    /// </summary>
    public int ExpireOld() => Guard<int>(() =>
    {
        var now = time.GetUtcNow().UtcDateTime;
        lock (gate)
        {
            var dropped = NothingDropped;
            Accounted(() =>
            {
                dropped = DropOldest(now - options.TimeToLive, long.MaxValue, long.MaxValue, DroppedForTtl);
                ExpireDeadLetters(now - options.DeadLetterTimeToLive);
            });
            return (int)Forget(dropped);
        }
    });

    /// <summary>
    /// Gives disk space back after a long outage has drained: LiteDB reuses freed pages but never shrinks the file,
    /// so when the file is large and mostly free it is rebuilt (about 43 µs per live document; ingest waits).
    /// </summary>
    public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => Guard<bool>(() =>
    {
        lock (gate)
        {
            var live = inboxCount + outboxCount + awaitingPurge + accounting.DeadLetterCount;
            if (FileBytes() < minimumFileBytes || live * 2048 > FileBytes() / 4)
            {
                return false;
            }

            RebuildFile();
            return true;
        }
    });

    /// <summary>
    /// LiteDB rebuilds only a database it opened by file name (on the streams the store gives it, Rebuild does nothing):
    /// the engine is closed, a file-mode engine rebuilds the file, and the store opens it again.
    /// </summary>
    private void RebuildFile()
    {
        ThrowIfWriteFailed();
        Close(db, files, abandon: false);
        files?.Abandon();
        ClearIndexes();
        try
        {
            using var plain = new LiteDatabase(new ConnectionString { Filename = FilePath, Connection = ConnectionType.Direct });
            plain.Rebuild();
        }
        finally
        {
            db = OpenAndLoad();
        }
    }

    /// <summary>
    /// Deletes outbox batches the next stage has (<see cref="MarkDelivered"/>), oldest first, in transactions of a few
    /// batches so ingest commits interleave. Runs while the outbox is nearly drained (forwarding comes first), or when
    /// delivered batches reach half <see cref="BufferOptions.MaxMessages"/> (the file stays bounded under a backlog
    /// that never drains). Returns how many messages' batches were deleted.
    /// </summary>
    public long PurgeDelivered() => Guard<long>(() =>
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
    });

    /// <summary>
    /// Deletes unsent data from the oldest (outbox first: it is older) while it is from before <paramref name="cutoff"/>,
    /// until at least <paramref name="max"/> device messages and <paramref name="maxBytes"/> bytes are gone, and counts
    /// the messages under <paramref name="reason"/>. Runs inside the caller's <see cref="Accounted"/> transaction; the
    /// caller passes the result to <see cref="Forget"/> once that has committed.
    /// </summary>
    private (List<long> OutboxBatches, List<InboxChange> Inbox) DropOldest(DateTime cutoff, long max, long maxBytes, string reason)
    {
        var batches = DeleteOldestUndelivered(cutoff, max, maxBytes);
        var fromOutbox = batches.Sum(id => undeliveredBatches[id].Messages);
        var fromOutboxBytes = batches.Sum(id => undeliveredBatches[id].Bytes);
        var inbox = DeleteOldestInInbox(cutoff, max - fromOutbox, maxBytes - fromOutboxBytes);
        var fromInbox = Removed(inbox);
        Count(reason, fromOutbox + fromInbox);
        pending.DroppedFromInbox += fromInbox;
        return (batches, inbox);
    }

    private static (List<long> OutboxBatches, List<InboxChange> Inbox) NothingDropped => ([], []);

    /// <summary>Updates the in-memory counts after a committed <see cref="DropOldest"/>; returns how many device messages went.</summary>
    private long Forget((List<long> OutboxBatches, List<InboxChange> Inbox) dropped)
    {
        var fromOutbox = dropped.OutboxBatches.Sum(id => undeliveredBatches[id].Messages);
        foreach (var id in dropped.OutboxBatches)
        {
            UntrackUndelivered(id);
        }

        return ApplyInbox(dropped.Inbox) + fromOutbox;
    }

    /// <summary>
    /// Deletes undelivered outbox batches from the oldest while created before <paramref name="cutoff"/>, until at
    /// least <paramref name="max"/> device messages and <paramref name="maxBytes"/> bytes are gone; returns their ids
    /// (the caller untracks them after its commit).
    /// </summary>
    private List<long> DeleteOldestUndelivered(DateTime cutoff, long max, long maxBytes)
    {
        var outbox = Collection(Outbox);
        var deleted = new List<long>();
        long messages = 0;
        long bytes = 0;
        foreach (var id in undelivered)
        {
            var batch = undeliveredBatches[id];
            if ((messages >= max && bytes >= maxBytes) || batch.CreatedUtc >= cutoff)
            {
                break;
            }

            outbox.Delete(id);
            deleted.Add(id);
            messages += batch.Messages;
            bytes += batch.Bytes;
        }

        return deleted;
    }

    private long FileBytes() => new FileInfo(FilePath).Length + (File.Exists(LogPath) ? new FileInfo(LogPath).Length : 0);

    private string LogPath => PrivateFiles.LiteDbLogPath(FilePath);
}
