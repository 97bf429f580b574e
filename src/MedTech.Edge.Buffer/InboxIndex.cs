using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The inbox: one document per group commit (<see cref="BufferDocuments.ToInboxCommit"/>), and an index of the commits
/// in memory, so counting, the oldest time, eviction and completion need no reading of the file. Changes to the file
/// run inside the caller's transaction; the index follows once it has committed (<see cref="Track"/>, <see cref="Apply"/>).
/// </summary>
internal sealed class InboxIndex(BufferFile file, SenderLedger senders)
{
    public const string Collection = "inbox";

    /// <summary>The field of an inbox document with the committed total after the commit that wrote it.</summary>
    private const string CommittedField = "committed";

    // The commits by document id, oldest first. A commit's document id is its first message's id when stored, and its
    // messages' ids run from there up to the next commit's id: a message id finds its commit.
    private readonly SortedSet<long> commitIds = [];
    private readonly Dictionary<long, InboxCommit> commits = [];

    public long Count { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>The last id given; new messages get the ones after it, never one given before (see <see cref="KeepIdsAbove"/>).</summary>
    public long LastId { get; private set; }

    public DateTime? OldestUtc => commitIds.Count == 0 ? null : commits[commitIds.Min].OldestUtc;

    public InboxCommit this[long commitId] => commits[commitId];

    /// <summary>Builds the index from the file at open; returns the largest committed total a commit carries.</summary>
    public long Load()
    {
        long committed = 0;
        foreach (var document in file.Collection(Collection).FindAll())
        {
            Track([(document["_id"].AsInt64, InboxCommit.Of(document))]);
            if (document.TryGetValue(CommittedField, out var total))
            {
                committed = Math.Max(committed, total.AsInt64);
            }
        }

        return committed;
    }

    /// <summary>Ids up to <paramref name="id"/> are never given again (a stage's in-hand record may name them).</summary>
    public void KeepIdsAbove(long id) => LastId = Math.Max(LastId, id);

    public void Clear()
    {
        commitIds.Clear();
        commits.Clear();
        Count = 0;
        Bytes = 0;
        LastId = 0;
    }

    /// <summary>The messages with the next ids; <see cref="Track"/> moves <see cref="LastId"/> past them once stored.</summary>
    public List<InboxMessage> Numbered(IEnumerable<InboxMessage> messages) => messages.Select((m, i) => m with { Id = LastId + 1 + i }).ToList();

    /// <summary>The oldest messages in whole commits: the oldest commit, then more while the total stays within <paramref name="max"/>.</summary>
    public List<InboxMessage> Read(int max)
    {
        var inbox = file.Collection(Collection);
        var messages = new List<InboxMessage>();
        foreach (var id in commitIds)
        {
            if (messages.Count > 0 && messages.Count + commits[id].Units > max)
            {
                break;
            }

            messages.AddRange(BufferDocuments.ToInboxMessages(inbox.FindById(id)));
        }

        return messages;
    }

    /// <summary>The messages with ids from <paramref name="firstId"/> to <paramref name="lastId"/> still here, in id order.</summary>
    public List<InboxMessage> ReadRange(long firstId, long lastId)
    {
        // The commit holding firstId may start before it.
        var commit = CommitOf(firstId);
        var from = commit > 0 ? commit : firstId;
        if (from > lastId)
        {
            return [];
        }

        var inbox = file.Collection(Collection);
        return commitIds.GetViewBetween(from, lastId).ToList()
            .SelectMany(id => BufferDocuments.ToInboxMessages(inbox.FindById(id)))
            .Where(m => m.Id >= firstId && m.Id <= lastId)
            .ToList();
    }

    /// <summary>
    /// Inserts numbered messages (with their <see cref="BufferDocuments.Size(InboxMessage)"/>) as commits of at most
    /// <see cref="BufferDocuments.MaxDocumentBytes"/>, each carrying <paramref name="committed"/>.
    /// </summary>
    public List<(long Id, InboxCommit Commit)> Insert(IReadOnlyList<(InboxMessage Message, long Size)> messages, long? committed = null)
    {
        var inbox = file.Collection(Collection);
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
    /// Removes the messages with these ids; a commit left empty is deleted without being read. Adds the ids that were
    /// there to <paramref name="removedIds"/> (for the counters).
    /// </summary>
    public List<InboxChange> Remove(IReadOnlyList<long> messageIds, HashSet<long>? removedIds = null)
    {
        var inbox = file.Collection(Collection);
        var changes = new List<InboxChange>();
        foreach (var group in messageIds.Distinct().GroupBy(CommitOf))
        {
            if (!commits.TryGetValue(group.Key, out var commit))
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
    /// Deletes messages from the oldest while received before <paramref name="cutoff"/>, until at least
    /// <paramref name="max"/> messages and <paramref name="maxBytes"/> bytes are gone; whole commits where it can, else
    /// the oldest part of one.
    /// </summary>
    public List<InboxChange> DeleteOldest(DateTime cutoff, long max, long maxBytes)
    {
        var inbox = file.Collection(Collection);
        var changes = new List<InboxChange>();

        // Whole when all of it is due and it does not overshoot the messages or the bytes still to go; else the
        // messages of the one it stops in are taken one by one below.
        var taken = OldestFirst.Take(commitIds.Select(id => new OldestFirst.Item(id, commits[id].OldestUtc, commits[id].Units, commits[id].Bytes)),
            cutoff, max, maxBytes, (item, removed, removedBytes) =>
                commits[item.Id].NewestUtc < cutoff && (removed + item.Units <= max || removedBytes + item.Bytes <= maxBytes));
        foreach (var id in taken.Ids)
        {
            inbox.Delete(id);
            changes.Add(new InboxChange(id, null));
        }

        if (taken.Partial is { } partial)
        {
            // Part of this commit; the messages after that part are newer than the cutoff or over the limit.
            var (removed, removedBytes) = (taken.Units, taken.Bytes);
            var messages = BufferDocuments.ToInboxMessages(inbox.FindById(partial));
            var due = 0;
            while (due < messages.Count && messages[due].ReceivedUtc < cutoff && (removed < max || removedBytes < maxBytes))
            {
                removed++;
                removedBytes += BufferDocuments.Size(messages[due++]);
            }

            changes.Add(Rewrite(inbox, partial, messages.Skip(due).ToList()));
        }

        return changes;
    }

    /// <summary>How many messages <paramref name="changes"/> remove; call before <see cref="Apply"/>.</summary>
    public long Removed(IEnumerable<InboxChange> changes) => changes.Sum(c => (long)commits[c.Id].Units - (c.Remaining?.Units ?? 0));

    /// <summary>Updates the index after the transaction that made <paramref name="changes"/> committed; returns how many messages went.</summary>
    public long Apply(IReadOnlyList<InboxChange> changes)
    {
        var removed = Removed(changes);
        Bytes -= changes.Sum(c => commits[c.Id].Bytes - (c.Remaining?.Bytes ?? 0));
        foreach (var change in changes)
        {
            senders.Untrack(commits[change.Id].Senders);
            if (change.Remaining is { } remaining)
            {
                commits[change.Id] = remaining;
                senders.Track(remaining.Senders);
            }
            else
            {
                commitIds.Remove(change.Id);
                commits.Remove(change.Id);
            }
        }

        Count -= removed;
        return removed;
    }

    /// <summary>Adds commits to the index after the transaction that inserted them committed.</summary>
    public void Track(IEnumerable<(long Id, InboxCommit Commit)> added)
    {
        foreach (var (id, commit) in added)
        {
            commitIds.Add(id);
            commits[id] = commit;
            Count += commit.Units;
            Bytes += commit.Bytes;
            LastId = Math.Max(LastId, commit.LastId);
            senders.Track(commit.Senders);
        }
    }

    /// <summary>The commit a message id belongs to, if any: the one with the greatest id not above it (0 when none).</summary>
    private long CommitOf(long messageId) => commitIds.GetViewBetween(long.MinValue, messageId).Max;

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
}
