using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The outbox in memory: batches not yet delivered, in id order, with their entry count (hub messages), the device
/// messages they came from (what capacity counts), their bytes and time, and the delivered-up-to marker. A delivered
/// batch stays on disk until a purge: LiteDB's delete costs as much disk I/O as the insert did, so it is kept off the
/// forwarding path and done when a backlog has drained. Changes to the file run inside the caller's transaction; the
/// index follows once it has committed.
/// </summary>
internal sealed class OutboxIndex(BufferFile file, SenderLedger senders, TimeProvider time)
{
    public const string Collection = "outbox";

    /// <summary>The collection of the delivered-up-to marker.</summary>
    public const string StateCollection = "state";

    private const string DeliveredUpToKey = "outboxDeliveredUpTo";

    /// <summary>The outbox batch field with the senders of the round it ends (<see cref="SenderShare.ToBinary"/>).</summary>
    private const string SendersField = "senders";

    // The marker is written to the file at most once a second (and with dead letters, a purge, or on close): a commit
    // costs a flush, and after a crash a stale marker only means batches are sent again.
    private static readonly TimeSpan MarkerInterval = TimeSpan.FromSeconds(1);

    private readonly SortedSet<long> undelivered = [];
    private readonly Dictionary<long, OutboxBatch> batches = [];

    // A round written over several documents this run: each document's round (its last document's id), and how many
    // of the round's documents are undelivered. The round's senders are released when the last of them goes, whatever
    // the order the hub acknowledged them in. (After a reopen, the senders go with the document that carries them.)
    private readonly Dictionary<long, long> roundOf = [];
    private readonly Dictionary<long, OutboxRound> rounds = [];
    private long markerOnDisk;
    private long markerWrittenAt;

    /// <summary>Undelivered entries (hub messages).</summary>
    public long Count { get; private set; }

    /// <summary>The device messages behind the undelivered batches.</summary>
    public long Messages { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>Entries of delivered batches still on disk.</summary>
    public long AwaitingPurge { get; private set; }

    /// <summary>Every batch with an id up to this was delivered.</summary>
    public long DeliveredUpTo { get; private set; }

    /// <summary>
    /// The last batch id given. Ids are assigned here, never reused: LiteDB's own sequence restarts at 1 in an empty
    /// collection, which would make new batches look delivered.
    /// </summary>
    public long LastId { get; private set; }

    public DateTime? OldestUtc => undelivered.Count == 0 ? null : batches[undelivered.Min].CreatedUtc;

    public OutboxBatch this[long batchId] => batches[batchId];

    /// <summary>The marker is due to be written (a second since the last time).</summary>
    public bool MarkerDue => time.GetElapsedTime(markerWrittenAt) >= MarkerInterval;

    /// <summary>Builds the index and reads the marker from the file at open.</summary>
    public void Load()
    {
        DeliveredUpTo = markerOnDisk = file.Database.GetCollection(StateCollection).FindById(DeliveredUpToKey)?["value"].AsInt64 ?? 0;
        markerWrittenAt = time.GetTimestamp();
        LastId = DeliveredUpTo;
        foreach (var batch in file.Collection(Collection).FindAll())
        {
            var id = batch["_id"].AsInt64;
            LastId = Math.Max(LastId, id);
            if (id <= DeliveredUpTo)
            {
                AwaitingPurge += BufferDocuments.Units(batch);
            }
            else
            {
                var senders = SenderShare.FromBinary(batch.TryGetValue(SendersField, out var field) && field.IsBinary ? field.AsBinary : null);
                Track(id, new OutboxBatch((int)BufferDocuments.Units(batch), BufferDocuments.DeviceMessages(batch),
                    BufferDocuments.Bytes(batch), batch["createdUtc"].AsDateTime.ToUniversalTime(), senders));
            }
        }
    }

    public void Clear()
    {
        undelivered.Clear();
        batches.Clear();
        roundOf.Clear();
        rounds.Clear();
        Count = Messages = Bytes = AwaitingPurge = 0;
        DeliveredUpTo = markerOnDisk = LastId = 0;
    }

    /// <summary>The oldest undelivered entries with a batch id above <paramref name="afterBatchId"/>, in whole batches: at least one, then while under <paramref name="max"/>.</summary>
    public List<OutboxEntry> Read(int max, long afterBatchId)
    {
        var entries = new List<OutboxEntry>();
        var outbox = file.Collection(Collection);
        foreach (var id in undelivered.GetViewBetween(afterBatchId + 1, long.MaxValue))
        {
            if (entries.Count > 0 && entries.Count + batches[id].Units > max)
            {
                break;
            }

            entries.AddRange(BufferDocuments.ToOutboxEntries(outbox.FindById(id)));
        }

        return entries;
    }

    /// <summary>The undelivered entries of batches with ids from <paramref name="firstId"/> to <paramref name="lastId"/>, in order.</summary>
    public List<OutboxEntry> ReadRange(long firstId, long lastId)
    {
        var outbox = file.Collection(Collection);
        return firstId > lastId ? [] : undelivered.GetViewBetween(firstId, lastId).ToList()
            .SelectMany(id => BufferDocuments.ToOutboxEntries(outbox.FindById(id)))
            .ToList();
    }

    /// <summary>
    /// Inserts a round's documents (<paramref name="documents"/>: entries and the device messages each counts) after
    /// <see cref="LastId"/>. The round's senders (<paramref name="sendersOf"/>, given the round's bytes) ride on its
    /// last document: they are released when it is delivered or dropped (a round's batches go in order), so a sender
    /// never counts for less than it holds. Returns the batches for <see cref="TrackRound"/> once committed.
    /// </summary>
    public List<OutboxBatch> InsertRound(IReadOnlyList<(IReadOnlyList<OutboxEntry> Entries, long Messages)> documents, Func<long, SenderShare[]> sendersOf)
    {
        var built = documents.Select(d => BufferDocuments.ToOutboxBatch(d.Entries, d.Messages)).ToList();
        var roundSenders = built.Count == 0 ? [] : sendersOf(built.Sum(BufferDocuments.Bytes));
        if (roundSenders.Length > 0)
        {
            built[^1][SendersField] = SenderShare.ToBinary(roundSenders);
        }

        var outbox = file.Collection(Collection);
        var tracked = new List<OutboxBatch>();
        for (var i = 0; i < built.Count; i++)
        {
            outbox.Insert(LastId + 1 + i, built[i]);
            tracked.Add(new OutboxBatch(documents[i].Entries.Count, built[i]["messages"].AsInt64, BufferDocuments.Bytes(built[i]),
                documents[i].Entries[0].CreatedUtc, i == built.Count - 1 ? roundSenders : []));
        }

        return tracked;
    }

    /// <summary>Adds a committed round (<see cref="InsertRound"/>) to the index.</summary>
    public void TrackRound(List<OutboxBatch> tracked)
    {
        var roundEnd = LastId + tracked.Count;
        foreach (var batch in tracked)
        {
            Track(LastId + 1, batch);
            if (tracked.Count > 1)
            {
                roundOf[LastId] = roundEnd;
            }
        }

        if (tracked.Count > 1)
        {
            rounds[roundEnd] = new OutboxRound { Left = tracked.Count, Bytes = tracked.Sum(b => b.Bytes), Senders = tracked[^1].Senders ?? [] };
        }
    }

    public void Track(long id, OutboxBatch batch)
    {
        undelivered.Add(id);
        batches[id] = batch;
        LastId = Math.Max(LastId, id);
        Count += batch.Units;
        Messages += batch.Messages;
        Bytes += batch.Bytes;
        senders.Track(batch.Senders);
    }

    /// <summary>Forgets an undelivered batch (delivered or dropped); returns its entry count.</summary>
    public int Untrack(long id)
    {
        undelivered.Remove(id);
        batches.Remove(id, out var batch);
        Count -= batch.Units;
        Messages -= batch.Messages;
        Bytes -= batch.Bytes;
        if (!roundOf.Remove(id, out var end))
        {
            senders.Untrack(batch.Senders ?? []);
        }
        else if (rounds.TryGetValue(end, out var round))
        {
            senders.Untrack(round.Leave(batch.Bytes));
            if (round.Left == 0)
            {
                rounds.Remove(end);
            }
        }

        return batch.Units;
    }

    /// <summary>
    /// The marker once <paramref name="batchIds"/> are delivered: up to the batch before the oldest one still
    /// undelivered. A batch delivered ahead of an older undelivered one is delivered again after a restart.
    /// </summary>
    public long UpToAfter(IReadOnlyList<long> batchIds)
    {
        var delivered = batchIds.ToHashSet();
        return undelivered.Where(id => !delivered.Contains(id)).Select(id => id - 1).FirstOrDefault(LastId);
    }

    /// <summary>Forgets delivered batches (their entries now await the purge), once their marker is committed or moved.</summary>
    public void Deliver(IReadOnlyList<long> batchIds)
    {
        foreach (var id in batchIds.Where(undelivered.Contains).ToHashSet())
        {
            AwaitingPurge += Untrack(id);
        }
    }

    /// <summary>Moves the marker in memory only; the next <see cref="SaveMarker"/> writes it.</summary>
    public void MoveMarker(long upTo) => DeliveredUpTo = upTo;

    /// <summary>Moves the marker to <paramref name="upTo"/> and stores it, in one transaction with <paramref name="withIt"/>.</summary>
    public void SaveMarker(long upTo, Action? withIt = null)
    {
        file.Transaction(() =>
        {
            withIt?.Invoke();
            if (upTo != markerOnDisk)
            {
                file.Database.GetCollection(StateCollection).Upsert(new BsonDocument { ["_id"] = DeliveredUpToKey, ["value"] = upTo });
            }
        });
        DeliveredUpTo = markerOnDisk = upTo;
        markerWrittenAt = time.GetTimestamp();
    }

    /// <summary>Deletes up to four delivered batches, oldest first, with the marker; returns their entries (0: none left below the marker).</summary>
    public long PurgeSome()
    {
        long units = 0;
        SaveMarker(DeliveredUpTo, () =>
        {
            var outbox = file.Collection(Collection);
            foreach (var batch in outbox.Find(Query.LTE("_id", DeliveredUpTo), 0, 4).ToList())
            {
                outbox.Delete(batch["_id"]);
                units += BufferDocuments.Units(batch);
            }
        });
        AwaitingPurge = Math.Max(0, AwaitingPurge - units);
        return units;
    }

    /// <summary>
    /// Deletes undelivered batches from the oldest while created before <paramref name="cutoff"/>, until at least
    /// <paramref name="max"/> device messages and <paramref name="maxBytes"/> bytes are gone; returns their ids (the
    /// caller untracks them after its commit).
    /// </summary>
    public List<long> DeleteOldest(DateTime cutoff, long max, long maxBytes)
    {
        var outbox = file.Collection(Collection);
        var taken = OldestFirst.Take(undelivered.Select(id => new OldestFirst.Item(id, batches[id].CreatedUtc, batches[id].Messages, batches[id].Bytes)), cutoff, max, maxBytes);
        foreach (var id in taken.Ids)
        {
            outbox.Delete(id);
        }

        return taken.Ids;
    }
}
