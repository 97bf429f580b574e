using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The gateway's one LiteDB file: inbox (as received) → outbox (for the hub) → gone, plus dead letters. Each step is
/// one transaction, and a message leaves a collection only in the transaction that puts it in the next one, so a
/// crash between steps repeats a step (duplicates downstream are idempotent) and never loses a message.
/// Thread-safe; one instance per file and process.
/// </summary>
public sealed partial class GatewayStore : IInboxStore, INormalizationInput, IOutbox, IDeadLetters, IBufferUpkeep, IDisposable
{
    private const string Inbox = "inbox";
    private const string Outbox = "outbox";
    private const string DeadLetters = "deadletters";
    private const string Counters = "counters";
    private const string State = "state";
    private const string DeliveredUpToKey = "outboxDeliveredUpTo";

    private LiteDatabase db;
    private readonly BufferOptions options;
    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private readonly InHandFiles inHand;
    private readonly SenderLedger ledger = new();
    private readonly DeadLetterShelf shelf;

    // The outbox in memory: batches not yet delivered, in id order, with their entry count (hub messages), the device
    // messages they came from (what capacity counts), their bytes and time. A delivered
    // batch stays on disk until PurgeDelivered: LiteDB's delete costs as much disk I/O as the insert did, so it is
    // kept off the forwarding path and done when a backlog has drained.
    private readonly SortedSet<long> undelivered = [];
    private readonly Dictionary<long, OutboxBatch> undeliveredBatches = [];

    // A round written over several documents this run: each document's round (its last document's id), and how many
    // of the round's documents are undelivered. The round's senders are released when the last of them goes, whatever
    // the order the hub acknowledged them in. (After a reopen, the senders go with the document that carries them.)
    private readonly Dictionary<long, long> roundOf = [];
    private readonly Dictionary<long, Round> rounds = [];
    private long outboxCount;
    private long outboxMessages;
    private long outboxBytes;
    private long awaitingPurge;

    // Every outbox batch with an id up to this was delivered. Written to the file at most once a second (and with
    // dead letters, a purge, or on dispose): a commit costs a flush, and after a crash a stale marker only means
    // batches are sent again. Ids are assigned here, never reused: LiteDB's own sequence restarts at 1 in an empty
    // collection, which would make new batches look delivered.
    private static readonly TimeSpan MarkerInterval = TimeSpan.FromSeconds(1);
    private long deliveredUpTo;
    private long markerOnDisk;
    private long markerWrittenAt;
    private long lastOutboxId;
    private bool disposed;

    public GatewayStore(BufferOptions options, TimeProvider? timeProvider = null)
        : this(options, timeProvider, BufferFiles.OpenFile, null, ownFiles: true)
    {
    }

    /// <summary>With the files (data and log) opened by <paramref name="openFile"/> (the power-cut and full-disk tests give their own).</summary>
    internal GatewayStore(BufferOptions options, TimeProvider? timeProvider, Func<string, Stream> openFile)
        : this(options, timeProvider, openFile, null, ownFiles: false)
    {
    }

    /// <summary>Writable with <paramref name="openFile"/>, or read-only on what <paramref name="openReadOnly"/> opens.</summary>
    private GatewayStore(BufferOptions options, TimeProvider? timeProvider, Func<string, Stream>? openFile, Func<string, LiteDatabase>? openReadOnly, bool ownFiles)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.openFile = openFile;
        this.openReadOnly = openReadOnly;
        this.ownFiles = ownFiles;
        readOnly = openReadOnly is not null;
        time = timeProvider ?? TimeProvider.System;
        var path = System.IO.Path.GetFullPath(options.Path);
        FilePath = path;
        inHand = new InHandFiles(path, readOnly);
        shelf = new DeadLetterShelf(options);
        if (!readOnly)
        {
            PrivateFiles.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        }

        db = Guard(OpenAndLoad);
    }

    public string FilePath { get; }

    /// <summary>
    /// Runs one public operation with LiteDB's exceptions turned into <see cref="BufferStorageException"/>: the storage
    /// library stays inside the buffer, and no consumer has to reference it to tell a storage failure apart.
    /// </summary>
    private static T Guard<T>(Func<T> operation)
    {
        try
        {
            return operation();
        }
        catch (LiteException ex)
        {
            throw new BufferStorageException(ex);
        }
    }

    private static void Guard(Action operation) => Guard<bool>(() =>
    {
        operation();
        return true;
    });

    /// <summary>
    /// Normalize and Group in one step: the inbox messages leave in the transaction that stores their results, and the
    /// counters (normalized, dead-lettered) move in it too, and the stage's in-hand record <paramref name="clearInHand"/>
    /// is cleared in it (see <see cref="SetInHand"/>). The outbox batch counts the device messages it came from:
    /// <paramref name="deviceMessages"/>, or by default the messages removed from the inbox that are not dead letters.
    /// </summary>
    public void CompleteNormalization(IReadOnlyList<long> inboxIds, IReadOnlyList<OutboxEntry> entries, IReadOnlyList<DeadLetter> deadLetters, string? clearInHand = null, long? deviceMessages = null) => Guard(() =>
    {
        ArgumentNullException.ThrowIfNull(inboxIds);
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(deadLetters);
        lock (gate)
        {
            // One document per round (more for a round over MaxDocumentBytes): draining costs one delete per batch, not per message.
            var batches = BufferDocuments.ChunkBySize(entries, e => 8 + (3L * e.Key.Length) + e.Payload.Length).ToList();
            var tracked = new List<OutboxBatch>();
            var removed = new List<InboxChange>();
            Accounted(() =>
            {
                var removedIds = new HashSet<long>();
                removed = RemoveFromInbox(inboxIds, removedIds);
                var deadLettered = deadLetters.Select(d => d.Message.Id).Where(removedIds.Contains).Distinct().Count();
                var normalized = removedIds.Count - deadLettered;
                pending.Normalized += normalized;
                pending.DeadLettered += deadLettered;

                var outbox = Collection(Outbox);
                var messages = Math.Max(0, deviceMessages ?? normalized);
                long given = 0;
                var documents = new List<BsonDocument>();
                for (var i = 0; i < batches.Count; i++)
                {
                    // A round over several documents shares its device messages out by entries (the rest to the last).
                    var share = i == batches.Count - 1 ? messages - given : messages * batches[i].Count / entries.Count;
                    given += share;
                    documents.Add(BufferDocuments.ToOutboxBatch(batches[i], share));
                }

                // The round's senders ride on its last document: they are released when it is delivered or dropped (a
                // round's batches go in order), so a sender never counts for less than it holds.
                var senders = documents.Count == 0 ? []
                    : OutboxSenders(removed, deadLetters.Where(d => removedIds.Contains(d.Message.Id)).DistinctBy(d => d.Message.Id).Select(d => d.Message), documents.Sum(BufferDocuments.Bytes));
                if (senders.Length > 0)
                {
                    documents[^1][SendersField] = SendersToBinary(senders);
                }

                for (var i = 0; i < documents.Count; i++)
                {
                    outbox.Insert(lastOutboxId + 1 + i, documents[i]);
                    tracked.Add(new OutboxBatch(batches[i].Count, documents[i]["messages"].AsInt64, BufferDocuments.Bytes(documents[i]),
                        batches[i][0].CreatedUtc, i == documents.Count - 1 ? senders : []));
                }

                StoreDeadLetters(deadLetters);
            });
            // The outbox first: a broker reading a sender's share between the two sees it too high, never too low.
            var roundEnd = lastOutboxId + tracked.Count;
            foreach (var batch in tracked)
            {
                TrackUndelivered(++lastOutboxId, batch);
                if (tracked.Count > 1)
                {
                    roundOf[lastOutboxId] = roundEnd;
                }
            }

            if (tracked.Count > 1)
            {
                rounds[roundEnd] = new Round { Left = tracked.Count, Bytes = tracked.Sum(b => b.Bytes), Senders = tracked[^1].Senders ?? [] };
            }

            ApplyInbox(removed);

            ClearInHandAfterCommit(clearInHand);
        }
    });

    /// <summary>
    /// The oldest undelivered entries with a batch id above <paramref name="afterBatchId"/>, in order, in whole batches:
    /// at least one, then while under <paramref name="max"/>. A forwarder with batches in flight reads past them.
    /// </summary>
    public IReadOnlyList<OutboxEntry> ReadOutbox(int max, long afterBatchId = 0) => Guard<IReadOnlyList<OutboxEntry>>(() =>
    {
        lock (gate)
        {
            var entries = new List<OutboxEntry>();
            var outbox = Collection(Outbox);
            foreach (var id in undelivered.GetViewBetween(afterBatchId + 1, long.MaxValue))
            {
                if (entries.Count > 0 && entries.Count + undeliveredBatches[id].Units > max)
                {
                    break;
                }

                entries.AddRange(BufferDocuments.ToOutboxEntries(outbox.FindById(id)));
            }

            return entries;
        }
    });

    /// <summary>
    /// Marks outbox batches (by <see cref="OutboxEntry.Id"/>) delivered: the next stage has every entry of them. Stores
    /// that stage's dead letters in the same transaction (an in-process writer's groups the FHIR server refused).
    /// Only a small marker is written; <see cref="PurgeDelivered"/> deletes the batches later. A batch delivered ahead
    /// of an older undelivered one is delivered again after a restart (duplicates are idempotent downstream).
    /// </summary>
    public void MarkDelivered(IReadOnlyList<long> batchIds, IReadOnlyList<GroupDeadLetter>? deadLetters = null, string? clearInHand = null) => Guard(() =>
    {
        ArgumentNullException.ThrowIfNull(batchIds);
        lock (gate)
        {
            var delivered = batchIds.Where(undelivered.Contains).ToHashSet();
            var upTo = undelivered.Where(id => !delivered.Contains(id)).Select(id => id - 1).FirstOrDefault(lastOutboxId);
            if (deadLetters is { Count: > 0 } || clearInHand is not null || time.GetElapsedTime(markerWrittenAt) >= MarkerInterval)
            {
                Accounted(() => StoreDeadLetters(deadLetters ?? Array.Empty<GroupDeadLetter>()), work => SaveMarker(upTo, work));
            }
            else
            {
                deliveredUpTo = upTo;
            }

            foreach (var id in delivered)
            {
                awaitingPurge += UntrackUndelivered(id);
            }

            ClearInHandAfterCommit(clearInHand);
        }
    });

    /// <summary>Moves the delivered-up-to marker to <paramref name="upTo"/> and stores it, in one transaction with <paramref name="withIt"/>.</summary>
    private void SaveMarker(long upTo, Action? withIt = null)
    {
        Transaction(() =>
        {
            withIt?.Invoke();
            if (upTo != markerOnDisk)
            {
                db.GetCollection(State).Upsert(new BsonDocument { ["_id"] = DeliveredUpToKey, ["value"] = upTo });
            }
        });
        deliveredUpTo = markerOnDisk = upTo;
        markerWrittenAt = time.GetTimestamp();
    }

    /// <summary>
    /// An undelivered outbox batch as the index keeps it: entries (hub messages), the device messages behind them, bytes,
    /// time, and the senders it releases when it leaves (those of its round, on the round's last batch; <see cref="HeldBy"/>).
    /// </summary>
    private readonly record struct OutboxBatch(int Units, long Messages, long Bytes, DateTime CreatedUtc, SenderShare[] Senders);

    private void TrackUndelivered(long id, OutboxBatch batch)
    {
        undelivered.Add(id);
        undeliveredBatches[id] = batch;
        outboxCount += batch.Units;
        outboxMessages += batch.Messages;
        outboxBytes += batch.Bytes;
        TrackSenders(batch.Senders);
    }

    /// <summary>Forgets an undelivered batch; returns its entry count.</summary>
    private int UntrackUndelivered(long id)
    {
        undelivered.Remove(id);
        undeliveredBatches.Remove(id, out var batch);
        outboxCount -= batch.Units;
        outboxMessages -= batch.Messages;
        outboxBytes -= batch.Bytes;
        if (!roundOf.Remove(id, out var end))
        {
            UntrackSenders(batch.Senders ?? []);
        }
        else if (rounds.TryGetValue(end, out var round))
        {
            UntrackSenders(round.Leave(batch.Bytes));
            if (round.Left == 0)
            {
                rounds.Remove(end);
            }
        }

        return batch.Units;
    }

    private ILiteCollection<BsonDocument> Collection(string name)
    {
        ThrowIfWriteFailed();
        return db.GetCollection(name, BsonAutoId.Int64);
    }

    /// <summary>
    /// Runs <paramref name="work"/> as one LiteDB transaction; any failure rolls all of it back. Throws too when a
    /// write of this engine has failed (<see cref="BufferFiles"/>): then what LiteDB reports committed may not be on
    /// disk, so nothing may be acknowledged on it.
    /// </summary>
    private void Transaction(Action work)
    {
        ThrowIfWriteFailed();
        db.BeginTrans();
        try
        {
            work();
            db.Commit();
        }
        catch (Exception ex)
        {
            RollbackAfter(ex);

            // After a failed write LiteDB's own error (a page it cannot read back) says less than the write's.
            ThrowIfWriteFailed();
            throw;
        }

        ThrowIfWriteFailed();
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (!disposed)
            {
                disposed = true;
                try
                {
                    if (!readOnly)
                    {
                        SaveMarker(deliveredUpTo);
                    }
                }
                catch (Exception ex) when (ex is LiteException or IOException)
                {
                    // A marker not saved only means the last second's deliveries are sent again after the restart.
                }

                Close(db, files, abandon: files?.Failure is not null);
                files = null;
                if (ownFiles)
                {
                    DeleteEmptyLog();
                }
            }
        }
    }

    /// <summary>A round over several outbox documents: how many are undelivered, their bytes, and what its senders still hold.</summary>
    private sealed class Round
    {
        public int Left { get; set; }

        public long Bytes { get; set; }

        public required SenderShare[] Senders { get; set; }

        /// <summary>
        /// What one document leaving gives back: its share of each sender's bytes; with the round's last document,
        /// everything left, the messages too (a message may lie in any of the round's documents).
        /// </summary>
        public SenderShare[] Leave(long bytes)
        {
            if (--Left == 0)
            {
                return Senders;
            }

            var part = Senders.Select(s => s with { Messages = 0, Bytes = Bytes <= 0 ? 0 : (long)((Int128)s.Bytes * Math.Max(0, bytes) / Bytes) }).ToArray();
            Senders = [.. Senders.Zip(part, (s, p) => s with { Bytes = s.Bytes - p.Bytes })];
            Bytes -= bytes;
            return part;
        }
    }
}
