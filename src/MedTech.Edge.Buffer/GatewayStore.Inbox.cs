using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The inbox: one document per group commit (<see cref="BufferDocuments.ToInboxCommit"/>), and an index of the commits
/// in memory, so counting, the oldest time, eviction and completion need no reading of the file.
/// </summary>
public sealed partial class GatewayStore
{
    // The commits by document id, oldest first. A commit's document id is its first message's id when stored, and its
    // messages' ids run from there up to the next commit's id: a message id finds its commit.
    private readonly SortedSet<long> inboxCommitIds = [];
    private readonly Dictionary<long, InboxCommit> inboxCommits = [];
    private long inboxCount;
    private long inboxBytes;
    private long lastInboxId;

    /// <summary>
    /// The dead-letter code of a device message too large to keep: too large for one buffer record
    /// (<see cref="BufferDocuments.MaxRecordBytes"/>: megabytes of MQTT user properties, or a client id or topic that big),
    /// or, in external-broker mode, over the MQTT size limit; its size, payload hash and first bytes are kept.
    /// </summary>
    public const string DeviceMessageTooLarge = "DeviceMessageTooLarge";

    /// <summary>
    /// Stores received messages in one transaction (forced to disk with <see cref="BufferOptions.ForceToDisk"/>);
    /// when this returns they may be acknowledged. At capacity: <see cref="BufferFullException"/>, or the oldest are
    /// evicted and counted, by policy. Capacity counts device messages (inbox, and those behind outbox groups) and
    /// bytes (<see cref="BufferOptions.MaxMessages"/>, <see cref="BufferOptions.MaxBytes"/>). A message too large for a
    /// record becomes a <see cref="DeviceMessageTooLarge"/> dead letter in the same transaction rather than fail the
    /// commit of every device it shares with. Returns the ids given, in order.
    /// </summary>
    public IReadOnlyList<long> Append(IReadOnlyList<InboxMessage> messages) => Guard<IReadOnlyList<long>>(() =>
    {
        ArgumentNullException.ThrowIfNull(messages);
        lock (gate)
        {
            var numbered = Numbered(messages).Select(m => (Message: m, Size: BufferDocuments.Size(m))).ToList();
            var storable = numbered.Where(m => m.Size <= BufferDocuments.MaxRecordBytes).ToList();
            var tooLarge = numbered.Where(m => m.Size > BufferDocuments.MaxRecordBytes).ToList();
            var excess = inboxCount + outboxMessages + storable.Count - options.MaxMessages;
            var excessBytes = inboxBytes + outboxBytes + storable.Sum(m => m.Size) - options.MaxBytes;
            if (options.CapacityPolicy == CapacityPolicy.StopAccepting)
            {
                if (excess > 0)
                {
                    throw new BufferFullException(inboxCount + outboxMessages, options.MaxMessages);
                }

                // An empty buffer takes any commit: one bigger than MaxBytes on its own (many large messages at once)
                // would otherwise never be taken, and its devices would retry for ever.
                if (excessBytes > 0 && inboxBytes + outboxBytes > 0)
                {
                    throw new BufferFullException(inboxBytes + outboxBytes, options.MaxBytes, "bytes");
                }
            }

            var evicted = NothingDropped;
            var added = new List<(long Id, InboxCommit Commit)>();
            var now = time.GetUtcNow().UtcDateTime;
            pending = accounting with { Committed = accounting.Committed + numbered.Count };
            Transaction(() =>
            {
                if (excess > 0 || excessBytes > 0)
                {
                    evicted = DropOldest(DateTime.MaxValue, Math.Max(0, excess), Math.Max(0, excessBytes), DroppedForCapacity);
                }

                // The new total rides in the commit's own documents; the accounting document is written only when
                // something else changed too (or no document carries the total).
                added = InsertInbox(storable, pending.Committed);
                StoreDeadLetters(tooLarge.Select(m => BufferDocuments.Oversized(m.Message, m.Size, DeviceMessageTooLarge, now)).ToList());
                pending.DeadLettered += tooLarge.Count;
                if (storable.Count == 0 || pending with { Committed = accounting.Committed } != accounting)
                {
                    SaveAccounting();
                }
            });
            accounting = pending;
            Forget(evicted);
            TrackInbox(added);
            if (options.ForceToDisk)
            {
                ForceToDisk();
            }

            return numbered.Select(m => m.Message.Id).ToList();
        }
    });

    /// <summary>
    /// The oldest received messages, in arrival order, in whole commits: the oldest commit, then more while the total
    /// stays within <paramref name="max"/>.
    /// </summary>
    public IReadOnlyList<InboxMessage> ReadInbox(int max) => Guard<IReadOnlyList<InboxMessage>>(() =>
    {
        lock (gate)
        {
            var inbox = Collection(Inbox);
            var messages = new List<InboxMessage>();
            foreach (var id in inboxCommitIds)
            {
                if (messages.Count > 0 && messages.Count + inboxCommits[id].Units > max)
                {
                    break;
                }

                messages.AddRange(BufferDocuments.ToInboxMessages(inbox.FindById(id)));
            }

            return messages;
        }
    });

    /// <summary>
    /// A commit as the index keeps it, read from its document's own fields (as at start-up): its first and last message
    /// id, how many it holds, its oldest and newest receive time, its bytes, and its messages and bytes by client id
    /// (<see cref="HeldBy"/>).
    /// </summary>
    private readonly record struct InboxCommit(long FirstId, long LastId, int Units, DateTime OldestUtc, DateTime NewestUtc, long Bytes, SenderShare[] Senders)
    {
        /// <summary>Its ids have no gaps (only a completion of part of a commit leaves some).</summary>
        public bool Contiguous => LastId - FirstId + 1 == Units;

        /// <summary>From the document alone (start-up, a rewrite); reads its messages for the client ids.</summary>
        public static InboxCommit Of(BsonDocument document) => Of(document, BufferDocuments.ToInboxMessages(document).Select(m => (m, BufferDocuments.Size(m))));

        /// <summary>From the document and the messages it was written from (with their sizes), without reading it back.</summary>
        public static InboxCommit Of(BsonDocument document, IEnumerable<(InboxMessage Message, long Size)> messages)
        {
            var senders = SenderShare.Of(messages);
            if (!document.TryGetValue("data", out _))
            {
                // One message, as the first release stored it.
                var id = document["_id"].AsInt64;
                var received = document["receivedUtc"].AsDateTime.ToUniversalTime();
                var bytes = BufferDocuments.Bytes(document);
                return new(id, id, 1, received, received, bytes, [.. senders.Select(s => s with { Bytes = bytes })]);
            }

            return new(document["firstId"].AsInt64, document["lastId"].AsInt64, document["count"].AsInt32,
                document["receivedUtc"].AsDateTime.ToUniversalTime(), document["lastReceivedUtc"].AsDateTime.ToUniversalTime(),
                BufferDocuments.Bytes(document), senders);
        }
    }

    /// <summary>What a transaction did to one commit: gone (<paramref name="Remaining"/> null) or rewritten with fewer messages.</summary>
    private readonly record struct InboxChange(long Id, InboxCommit? Remaining);

    /// <summary>Builds the index from the file at start; returns the largest committed total a commit carries (<see cref="Append"/>).</summary>
    private long LoadInbox()
    {
        long committed = 0;
        foreach (var document in Collection(Inbox).FindAll())
        {
            TrackInbox([(document["_id"].AsInt64, InboxCommit.Of(document))]);
            if (document.TryGetValue(CommittedField, out var total))
            {
                committed = Math.Max(committed, total.AsInt64);
            }
        }

        return committed;
    }

    /// <summary>The field of an inbox document with the committed total after the commit that wrote it.</summary>
    private const string CommittedField = "committed";

    /// <summary>The messages with the next ids; <see cref="TrackInbox"/> moves <see cref="lastInboxId"/> past them once stored.</summary>
    private List<InboxMessage> Numbered(IEnumerable<InboxMessage> messages) => messages.Select((m, i) => m with { Id = lastInboxId + 1 + i }).ToList();

    /// <summary>
    /// Inserts numbered messages (with their <see cref="BufferDocuments.Size(InboxMessage)"/>) as commits of at most
    /// <see cref="BufferDocuments.MaxDocumentBytes"/>, each carrying <paramref name="committed"/>, inside the caller's transaction.
    /// </summary>
    private List<(long Id, InboxCommit Commit)> InsertInbox(IReadOnlyList<(InboxMessage Message, long Size)> messages, long? committed = null)
    {
        var inbox = Collection(Inbox);
        var added = new List<(long, InboxCommit)>();
        foreach (var chunk in BufferDocuments.ChunkBySize(messages, m => m.Size))
        {
            var document = BufferDocuments.ToInboxCommit(chunk.Select(m => m.Message).ToList(), chunk.Sum(m => m.Size));
            if (committed is { } total)
            {
                document[CommittedField] = total;
            }

            inbox.Insert(chunk[0].Message.Id, document);
            added.Add((chunk[0].Message.Id, InboxCommit.Of(document, chunk)));
        }

        return added;
    }

    /// <summary>
    /// Removes the messages with these ids, inside the caller's transaction; a commit left empty is deleted without
    /// being read. Adds the ids that were there to <paramref name="removedIds"/> (for the counters).
    /// </summary>
    private List<InboxChange> RemoveFromInbox(IReadOnlyList<long> messageIds, HashSet<long>? removedIds = null)
    {
        var inbox = Collection(Inbox);
        var changes = new List<InboxChange>();
        foreach (var group in messageIds.Distinct().GroupBy(CommitOf))
        {
            if (!inboxCommits.TryGetValue(group.Key, out var commit))
            {
                continue;
            }

            var ids = group.Where(id => id >= commit.FirstId && id <= commit.LastId).ToHashSet();
            if (commit.Contiguous && ids.Count == commit.Units)
            {
                inbox.Delete(group.Key);
                changes.Add(new InboxChange(group.Key, null));
                removedIds?.UnionWith(ids);
            }
            else if (ids.Count > 0)
            {
                var messages = BufferDocuments.ToInboxMessages(inbox.FindById(group.Key));
                removedIds?.UnionWith(messages.Select(m => m.Id).Where(ids.Contains));
                changes.Add(Rewrite(inbox, group.Key, messages.Where(m => !ids.Contains(m.Id)).ToList()));
            }
        }

        return changes;
    }

    /// <summary>
    /// Deletes inbox messages from the oldest while received before <paramref name="cutoff"/>, until at least
    /// <paramref name="max"/> messages and <paramref name="maxBytes"/> bytes are gone, inside the caller's transaction;
    /// whole commits where it can, else the oldest part of one.
    /// </summary>
    private List<InboxChange> DeleteOldestInInbox(DateTime cutoff, long max, long maxBytes)
    {
        var inbox = Collection(Inbox);
        var changes = new List<InboxChange>();
        long removed = 0;
        long removedBytes = 0;
        foreach (var id in inboxCommitIds)
        {
            var commit = inboxCommits[id];
            if ((removed >= max && removedBytes >= maxBytes) || commit.OldestUtc >= cutoff)
            {
                break;
            }

            // Whole when all of it is due and it does not overshoot the messages or the bytes still to go; else the
            // messages are taken one by one below.
            if (commit.NewestUtc < cutoff && (removed + commit.Units <= max || removedBytes + commit.Bytes <= maxBytes))
            {
                inbox.Delete(id);
                changes.Add(new InboxChange(id, null));
                removed += commit.Units;
                removedBytes += commit.Bytes;
                continue;
            }

            // Part of this commit; the messages after that part are newer than the cutoff or over the limit.
            var messages = BufferDocuments.ToInboxMessages(inbox.FindById(id));
            var due = 0;
            while (due < messages.Count && messages[due].ReceivedUtc < cutoff && (removed < max || removedBytes < maxBytes))
            {
                removed++;
                removedBytes += BufferDocuments.Size(messages[due++]);
            }

            changes.Add(Rewrite(inbox, id, messages.Skip(due).ToList()));
            break;
        }

        return changes;
    }

    private static InboxChange Rewrite(ILiteCollection<BsonDocument> inbox, long id, List<InboxMessage> remaining)
    {
        if (remaining.Count == 0)
        {
            inbox.Delete(id);
            return new InboxChange(id, null);
        }

        var document = BufferDocuments.ToInboxCommit(remaining);
        inbox.Update(id, document);
        return new InboxChange(id, InboxCommit.Of(document, remaining.Select(m => (m, BufferDocuments.Size(m)))));
    }

    /// <summary>How many messages <paramref name="changes"/> remove; call before <see cref="ApplyInbox"/>.</summary>
    private long Removed(IEnumerable<InboxChange> changes) => changes.Sum(c => (long)inboxCommits[c.Id].Units - (c.Remaining?.Units ?? 0));

    private long RemovedBytes(IEnumerable<InboxChange> changes) => changes.Sum(c => inboxCommits[c.Id].Bytes - (c.Remaining?.Bytes ?? 0));

    /// <summary>Updates the index after the transaction that made <paramref name="changes"/> committed; returns how many messages went.</summary>
    private long ApplyInbox(IReadOnlyList<InboxChange> changes)
    {
        var removed = Removed(changes);
        inboxBytes -= RemovedBytes(changes);
        foreach (var change in changes)
        {
            UntrackSenders(inboxCommits[change.Id].Senders);
            if (change.Remaining is { } remaining)
            {
                inboxCommits[change.Id] = remaining;
                TrackSenders(remaining.Senders);
            }
            else
            {
                inboxCommitIds.Remove(change.Id);
                inboxCommits.Remove(change.Id);
            }
        }

        inboxCount -= removed;
        return removed;
    }

    private void TrackInbox(IEnumerable<(long Id, InboxCommit Commit)> added)
    {
        foreach (var (id, commit) in added)
        {
            inboxCommitIds.Add(id);
            inboxCommits[id] = commit;
            inboxCount += commit.Units;
            inboxBytes += commit.Bytes;
            lastInboxId = Math.Max(lastInboxId, commit.LastId);
            TrackSenders(commit.Senders);
        }
    }

    /// <summary>The commit a message id belongs to, if any: the one with the greatest id not above it (0 when none).</summary>
    private long CommitOf(long messageId) => inboxCommitIds.GetViewBetween(long.MinValue, messageId).Max;

    private DateTime? OldestInInbox() => inboxCommitIds.Count == 0 ? null : inboxCommits[inboxCommitIds.Min].OldestUtc;
}
