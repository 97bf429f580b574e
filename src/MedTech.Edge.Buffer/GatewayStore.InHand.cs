using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// What a stage has in hand, on disk: before a round a stage records the ids it is about to handle, and the round's
/// own transaction clears the record. A record found at start-up therefore means the process died (a kill, an
/// out-of-memory, a native fault) while holding those ids, and the stage can retry them alone and then quarantine
/// the one that kills it, instead of dying on it at every restart. A LiteDB commit survives a process kill (its log
/// is replayed on open), so no checkpoint is needed: the cost is one small commit per round.
/// </summary>
public sealed partial class GatewayStore
{
    /// <summary>The in-hand record of Normalize and Group (ids are inbox message ids).</summary>
    public const string NormalizationInHand = "inHand:normalize";

    /// <summary>The in-hand record of the in-process writer (ids are outbox batch ids).</summary>
    public const string WriterInHand = "inHand:writer";

    /// <summary>
    /// The record of <paramref name="stage"/>, or null when it has nothing in hand. Ids are a range: a stage reads
    /// the oldest ids first, so what it held is exactly what is still waiting within <see cref="InHand.FirstId"/>
    /// to <see cref="InHand.LastId"/>; newer arrivals always get higher ids.
    /// </summary>
    public InHand? ReadInHand(string stage)
    {
        ArgumentNullException.ThrowIfNull(stage);
        lock (gate)
        {
            return db.GetCollection(State).FindById(stage) is { } doc
                ? new InHand(doc["first"].AsInt64, doc["last"].AsInt64, doc["attempt"].AsInt32, doc["recoverUpTo"].AsInt64, doc["entry"].AsInt32)
                : null;
        }
    }

    /// <summary>Records <paramref name="inHand"/> for <paramref name="stage"/> in a transaction of its own (it must be on disk before the work starts).</summary>
    public void SetInHand(string stage, InHand inHand)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(inHand);
        lock (gate)
        {
            Transaction(() => db.GetCollection(State).Upsert(new BsonDocument
            {
                ["_id"] = stage,
                ["first"] = inHand.FirstId,
                ["last"] = inHand.LastId,
                ["attempt"] = inHand.Attempt,
                ["recoverUpTo"] = inHand.RecoverUpTo,
                ["entry"] = inHand.Entry,
            }));

            // LiteDB 5.0.20 returns from a commit before its disk writer has written it: a message that kills the
            // process at once would die before its record is anywhere the restart looks. The checkpoint writes it out.
            db.Checkpoint();
        }
    }

    /// <summary>Clears the record of <paramref name="stage"/> (a stage that completes a round clears it in that round's transaction instead).</summary>
    public void ClearInHand(string stage)
    {
        ArgumentNullException.ThrowIfNull(stage);
        lock (gate)
        {
            Transaction(() => DeleteInHand(stage));
        }
    }

    /// <summary>The inbox messages with ids from <paramref name="firstId"/> to <paramref name="lastId"/> that are still in the inbox, in id order.</summary>
    public IReadOnlyList<InboxMessage> ReadInboxRange(long firstId, long lastId)
    {
        lock (gate)
        {
            // The commit holding firstId may start before it.
            var commit = CommitOf(firstId);
            var from = commit > 0 ? commit : firstId;
            if (from > lastId)
            {
                return [];
            }

            var inbox = Collection(Inbox);
            return inboxCommitIds.GetViewBetween(from, lastId).ToList()
                .SelectMany(id => BufferDocuments.ToInboxMessages(inbox.FindById(id)))
                .Where(m => m.Id >= firstId && m.Id <= lastId)
                .ToList();
        }
    }

    /// <summary>The undelivered outbox entries of batches with ids from <paramref name="firstId"/> to <paramref name="lastId"/>, in order.</summary>
    public IReadOnlyList<OutboxEntry> ReadOutboxRange(long firstId, long lastId)
    {
        lock (gate)
        {
            var outbox = Collection(Outbox);
            return firstId > lastId ? [] : undelivered.GetViewBetween(firstId, lastId).ToList()
                .SelectMany(id => BufferDocuments.ToOutboxEntries(outbox.FindById(id)))
                .ToList();
        }
    }

    /// <summary>Inside the caller's transaction.</summary>
    private void DeleteInHand(string? stage)
    {
        if (stage is not null)
        {
            db.GetCollection(State).Delete(stage);
        }
    }
}

/// <summary>
/// Ids a stage holds: <paramref name="Attempt"/> 0 for a normal round, 1 for a retry of one alone after a death.
/// <paramref name="RecoverUpTo"/> is the last id of the round that died, so a recovery goes on alone up to there.
/// <paramref name="Entry"/> is the index of the one held alone within its id, where an id holds several (an outbox batch).
/// </summary>
public sealed record InHand(long FirstId, long LastId, int Attempt, long RecoverUpTo, int Entry = 0);
