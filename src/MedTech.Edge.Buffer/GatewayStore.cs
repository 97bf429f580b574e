using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The gateway's one LiteDB file: inbox (as received) → outbox (for the hub) → gone, plus dead letters. Each step is
/// one transaction, and a message leaves a collection only in the transaction that puts it in the next one, so a
/// crash between steps repeats a step (duplicates downstream are idempotent) and never loses a message.
/// Thread-safe; one instance per file and process.
/// </summary>
public sealed partial class GatewayStore : IDisposable
{
    private const string Inbox = "inbox";
    private const string Outbox = "outbox";
    private const string DeadLetters = "deadletters";
    private const string Counters = "counters";

    private readonly LiteDatabase db;
    private readonly BufferOptions options;
    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private long inboxCount;
    private long outboxCount;

    public GatewayStore(BufferOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        time = timeProvider ?? TimeProvider.System;
        var path = System.IO.Path.GetFullPath(options.Path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
        db.GetCollection(DeadLetters).EnsureIndex("code");

        // Counting walks the _id index; do it once and keep the counts in memory.
        inboxCount = Collection(Inbox).LongCount();
        outboxCount = Collection(Outbox).FindAll().Sum(BufferDocuments.Units);
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary>
    /// Stores received messages in one transaction (forced to disk with <see cref="BufferOptions.ForceToDisk"/>);
    /// when this returns they may be acknowledged. At capacity: <see cref="BufferFullException"/>, or the oldest are
    /// evicted and counted, by policy. Returns the ids given, in order.
    /// </summary>
    public IReadOnlyList<long> Append(IReadOnlyList<InboxMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        lock (gate)
        {
            var excess = inboxCount + outboxCount + messages.Count - options.MaxMessages;
            if (excess > 0 && options.CapacityPolicy == CapacityPolicy.StopAccepting)
            {
                throw new BufferFullException(inboxCount + outboxCount, options.MaxMessages);
            }

            var ids = new List<long>(messages.Count);
            Transaction(() =>
            {
                if (excess > 0)
                {
                    Evict(excess);
                }

                var inbox = Collection(Inbox);
                foreach (var message in messages)
                {
                    ids.Add(inbox.Insert(BufferDocuments.ToDocument(message)).AsInt64);
                }
            });
            inboxCount += messages.Count;
            if (options.ForceToDisk)
            {
                // LiteDB 5.0.20 commits without fsync; a checkpoint writes the log into the data file and flushes it.
                db.Checkpoint();
            }

            return ids;
        }
    }

    /// <summary>The oldest received messages, in arrival order.</summary>
    public IReadOnlyList<InboxMessage> ReadInbox(int max)
    {
        lock (gate)
        {
            return Collection(Inbox).Find(Query.All(Query.Ascending), 0, max).Select(BufferDocuments.ToInboxMessage).ToList();
        }
    }

    /// <summary>Normalize and Group in one step: the inbox messages leave in the transaction that stores their results.</summary>
    public void CompleteNormalization(IReadOnlyList<long> inboxIds, IReadOnlyList<OutboxEntry> entries, IReadOnlyList<DeadLetter> deadLetters)
    {
        ArgumentNullException.ThrowIfNull(inboxIds);
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(deadLetters);
        lock (gate)
        {
            var removed = 0;
            Transaction(() =>
            {
                // One document for the round's entries: draining then costs one delete per batch, not per message.
                if (entries.Count > 0)
                {
                    Collection(Outbox).Insert(BufferDocuments.ToOutboxBatch(entries));
                }

                var dead = Collection(DeadLetters);
                foreach (var deadLetter in deadLetters)
                {
                    dead.Insert(BufferDocuments.ToDocument(deadLetter));
                }

                var inbox = Collection(Inbox);
                removed = inboxIds.Count(id => inbox.Delete(id));
            });
            inboxCount -= removed;
            outboxCount += entries.Count;
        }
    }

    /// <summary>The oldest entries waiting for the hub, in order, in whole batches: at least one, then while under <paramref name="max"/>.</summary>
    public IReadOnlyList<OutboxEntry> ReadOutbox(int max)
    {
        lock (gate)
        {
            var entries = new List<OutboxEntry>();
            foreach (var batch in Collection(Outbox).Find(Query.All(Query.Ascending)))
            {
                if (entries.Count > 0 && entries.Count + BufferDocuments.Units(batch) > max)
                {
                    break;
                }

                entries.AddRange(BufferDocuments.ToOutboxEntries(batch));
            }

            return entries;
        }
    }

    /// <summary>
    /// Removes outbox batches (by <see cref="OutboxEntry.Id"/>) whose every entry the next stage has, and stores that
    /// stage's dead letters in the same transaction (an in-process writer's groups the FHIR server refused).
    /// </summary>
    public void DeleteOutbox(IReadOnlyList<long> batchIds, IReadOnlyList<DeadLetter>? deadLetters = null)
    {
        ArgumentNullException.ThrowIfNull(batchIds);
        lock (gate)
        {
            long removed = 0;
            Transaction(() =>
            {
                var dead = Collection(DeadLetters);
                foreach (var deadLetter in deadLetters ?? [])
                {
                    dead.Insert(BufferDocuments.ToDocument(deadLetter));
                }

                var outbox = Collection(Outbox);
                foreach (var id in batchIds.Distinct())
                {
                    if (outbox.FindById(id) is { } batch && outbox.Delete(id))
                    {
                        removed += BufferDocuments.Units(batch);
                    }
                }
            });
            outboxCount -= removed;
        }
    }

    private ILiteCollection<BsonDocument> Collection(string name) => db.GetCollection(name, BsonAutoId.Int64);

    /// <summary>Runs <paramref name="work"/> as one LiteDB transaction; any failure rolls all of it back.</summary>
    private void Transaction(Action work)
    {
        db.BeginTrans();
        try
        {
            work();
            db.Commit();
        }
        catch
        {
            db.Rollback();
            throw;
        }
    }

    public void Dispose() => db.Dispose();
}
