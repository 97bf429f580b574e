namespace MedTech.Edge.Buffer;

/// <summary>
/// The inbox as ingest and Normalize see it: commits of received messages (within capacity), reads in arrival order,
/// and the transaction that moves a normalization round on to the outbox.
/// </summary>
public sealed class Inbox : IInboxStore, INormalizationInput
{
    private readonly BufferState buffer;

    internal Inbox(BufferState buffer) => this.buffer = buffer;

    private ref Accounting Pending => ref buffer.Accounting.Pending;

    /// <summary>
    /// Stores received messages in one transaction (forced to disk with <see cref="BufferOptions.ForceToDisk"/>);
    /// when this returns they may be acknowledged. At capacity: <see cref="BufferFullException"/>, or the oldest are
    /// evicted and counted, by policy. Capacity counts device messages (inbox, and those behind outbox groups) and
    /// bytes (<see cref="BufferOptions.MaxMessages"/>, <see cref="BufferOptions.MaxBytes"/>). A message too large for a
    /// record becomes a <see cref="GatewayStore.DeviceMessageTooLarge"/> dead letter in the same transaction rather
    /// than fail the commit of every device it shares with. Returns the ids given, in order.
    /// </summary>
    public IReadOnlyList<long> Append(IReadOnlyList<InboxMessage> messages) => buffer.File.Locked<IReadOnlyList<long>>(() =>
    {
        ArgumentNullException.ThrowIfNull(messages);
        var numbered = buffer.Inbox.Numbered(messages).Select(m => (Message: m, Size: BufferDocuments.Size(m))).ToList();
        var storable = numbered.Where(m => m.Size <= BufferDocuments.MaxRecordBytes).ToList();
        var tooLarge = numbered.Where(m => m.Size > BufferDocuments.MaxRecordBytes).ToList();
        var (unsent, unsentBytes) = buffer.Unsent;
        var excess = unsent + storable.Count - buffer.Options.MaxMessages;
        var excessBytes = unsentBytes + storable.Sum(m => m.Size) - buffer.Options.MaxBytes;
        if (buffer.Options.CapacityPolicy == CapacityPolicy.StopAccepting)
        {
            if (excess > 0)
            {
                buffer.Overflow = (storable.Count, storable.Sum(m => m.Size));
                throw new BufferFullException(unsent, buffer.Options.MaxMessages);
            }

            // An empty buffer takes any commit: one bigger than MaxBytes on its own (many large messages at once)
            // would otherwise never be taken, and its devices would retry for ever.
            if (excessBytes > 0 && unsentBytes > 0)
            {
                buffer.Overflow = (storable.Count, storable.Sum(m => m.Size));
                throw new BufferFullException(unsentBytes, buffer.Options.MaxBytes, "bytes");
            }
        }

        var evicted = BufferState.Dropped.Nothing;
        var added = new List<(long Id, InboxCommit Commit)>();
        var now = buffer.Time.GetUtcNow().UtcDateTime;
        var accounting = buffer.Accounting.Current;
        Pending = accounting with { Committed = accounting.Committed + numbered.Count };
        buffer.File.Transaction(() =>
        {
            if (excess > 0 || excessBytes > 0)
            {
                evicted = buffer.DropOldest(DateTime.MaxValue, Math.Max(0, excess), Math.Max(0, excessBytes), GatewayStore.DroppedForCapacity);
            }

            // The new total rides in the commit's own documents; the accounting document is written only when
            // something else changed too (or no document carries the total).
            added = buffer.Inbox.Insert(storable, Pending.Committed);
            buffer.Accounting.StoreDeadLetters(tooLarge.Select(m => BufferDocuments.Oversized(m.Message, m.Size, GatewayStore.DeviceMessageTooLarge, now)).ToList());
            Pending.DeadLettered += tooLarge.Count;
            if (storable.Count == 0 || Pending with { Committed = accounting.Committed } != accounting)
            {
                buffer.Accounting.Save();
            }
        });
        buffer.Accounting.Committed();
        if (evicted.OutboxBatches.Count + evicted.Inbox.Count > 0)
        {
            buffer.Overflow = (storable.Count, storable.Sum(m => m.Size));
        }

        buffer.Forget(evicted);
        buffer.Inbox.Track(added);
        if (buffer.Options.ForceToDisk)
        {
            buffer.File.ForceToDisk();
        }

        return numbered.Select(m => m.Message.Id).ToList();
    });

    /// <summary>
    /// Stores one dead letter that never went through the inbox (a message too large to keep whole) in its own
    /// transaction; when this returns it is committed and the message may be acknowledged.
    /// </summary>
    public void AddDeadLetter(DeadLetter deadLetter) => buffer.File.Locked(() =>
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        buffer.File.Transaction(() => buffer.File.Collection(DeadLetterShelf.Collection).Insert(BufferDocuments.ToDocument(deadLetter)));
        if (buffer.Options.ForceToDisk)
        {
            // As for the inbox: the broker forgets the message on our ack.
            buffer.File.ForceToDisk();
        }
    });

    /// <inheritdoc cref="SenderLedger.HeldBy"/>
    public (long Messages, long Bytes) HeldBy(string clientId) => buffer.Senders.HeldBy(clientId);

    /// <inheritdoc cref="BufferFile.Reopen"/>
    public void Reopen() => buffer.File.Locked(() =>
    {
        // The delivered marker first, while the engine can still write: the reopen reloads it from the file, which
        // may be up to a second behind. After a failed write it cannot be saved, and the last second is sent again.
        try
        {
            buffer.File.ThrowIfWriteFailed();
            buffer.Outbox.SaveMarker(buffer.Outbox.DeliveredUpTo);
        }
        catch (Exception ex) when (ex is IOException or LiteDB.LiteException)
        {
        }

        buffer.File.Reopen();
    });

    /// <summary>
    /// The oldest received messages, in arrival order, in whole commits: the oldest commit, then more while the total
    /// stays within <paramref name="max"/>.
    /// </summary>
    public IReadOnlyList<InboxMessage> ReadInbox(int max) => buffer.File.Locked(() => buffer.Inbox.Read(max));

    /// <summary>The inbox messages with ids from <paramref name="firstId"/> to <paramref name="lastId"/> that are still in the inbox, in id order.</summary>
    public IReadOnlyList<InboxMessage> ReadInboxRange(long firstId, long lastId) => buffer.File.Locked(() => buffer.Inbox.ReadRange(firstId, lastId));

    /// <summary>
    /// Normalize and Group in one step: the inbox messages leave in the transaction that stores their results, and the
    /// counters (normalized, dead-lettered) move in it too, and the stage's in-hand record <paramref name="clearInHand"/>
    /// is cleared in it (see <see cref="SetInHand"/>). The outbox batch counts the device messages it came from:
    /// <paramref name="deviceMessages"/>, or by default the messages removed from the inbox that are not dead letters.
    /// </summary>
    public void CompleteNormalization(IReadOnlyList<long> inboxIds, IReadOnlyList<OutboxEntry> entries, IReadOnlyList<DeadLetter> deadLetters,
        string? clearInHand = null, long? deviceMessages = null) => buffer.File.Locked(() =>
    {
        ArgumentNullException.ThrowIfNull(inboxIds);
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(deadLetters);

        // One document per round (more for a round over MaxDocumentBytes): draining costs one delete per batch, not per message.
        var batches = BufferDocuments.ChunkBySize(entries, e => 8 + (3L * e.Key.Length) + e.Payload.Length).ToList();
        var tracked = new List<OutboxBatch>();
        var removed = new List<InboxChange>();
        buffer.Accounting.Run(() =>
        {
            var removedIds = new HashSet<long>();
            removed = buffer.Inbox.Remove(inboxIds, removedIds);
            var deadLettered = deadLetters.Select(d => d.Message).Where(m => removedIds.Contains(m.Id)).DistinctBy(m => m.Id).ToList();
            var normalized = removedIds.Count - deadLettered.Count;
            Pending.Normalized += normalized;
            Pending.DeadLettered += deadLettered.Count;

            // A round over several documents shares its device messages out by entries (the rest to the last).
            var messages = Math.Max(0, deviceMessages ?? normalized);
            long given = 0;
            var documents = new List<(IReadOnlyList<OutboxEntry>, long)>();
            for (var i = 0; i < batches.Count; i++)
            {
                var share = i == batches.Count - 1 ? messages - given : messages * batches[i].Count / entries.Count;
                given += share;
                documents.Add((batches[i], share));
            }

            // The senders are what the round takes from the inbox, less its dead letters: read before the index applies it.
            tracked = buffer.Outbox.InsertRound(documents, bytes => OutboxRound.SendersOf(
                removed.SelectMany(c => buffer.Inbox[c.Id].Senders.Concat((c.Remaining?.Senders ?? []).Select(s => s.Negated())))
                    .Concat(SenderShare.Of(deadLettered.Select(m => (m, BufferDocuments.Size(m)))).Select(s => s.Negated())),
                bytes));
            buffer.Accounting.StoreDeadLetters(deadLetters);
        });

        // The outbox first: a broker reading a sender's share between the two sees it too high, never too low.
        buffer.Outbox.TrackRound(tracked);
        buffer.Inbox.Apply(removed);
        buffer.InHand.ClearAfterCommit(clearInHand);
    });

    /// <inheritdoc cref="InHandFiles.Read"/>
    public InHand? ReadInHand(string stage) => buffer.InHand.Read(stage);

    /// <inheritdoc cref="InHandFiles.Set"/>
    public void SetInHand(string stage, InHand inHand) => buffer.InHand.Set(stage, inHand);

    /// <inheritdoc cref="InHandFiles.Clear"/>
    public void ClearInHand(string stage) => buffer.InHand.Clear(stage);
}
