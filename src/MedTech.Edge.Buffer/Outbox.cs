namespace MedTech.Edge.Buffer;

/// <summary>
/// The outbox as a forwarder sees it: the oldest undelivered groups, and their delivery, with the groups refused for
/// good as dead letters in the same transaction; and the purge of delivered batches.
/// </summary>
public sealed class Outbox : IOutbox
{
    /// <summary>"Nearly drained": below this many undelivered messages, delivered batches are purged.</summary>
    private const long PurgeWhileUndeliveredBelow = 10_000;

    private readonly BufferState buffer;

    internal Outbox(BufferState buffer) => this.buffer = buffer;

    /// <summary>
    /// The oldest undelivered entries with a batch id above <paramref name="afterBatchId"/>, in order, in whole batches:
    /// at least one, then while under <paramref name="max"/>. A forwarder with batches in flight reads past them.
    /// </summary>
    public IReadOnlyList<OutboxEntry> ReadOutbox(int max, long afterBatchId = 0) => buffer.File.Locked(() => buffer.Outbox.Read(max, afterBatchId));

    /// <summary>The undelivered outbox entries of batches with ids from <paramref name="firstId"/> to <paramref name="lastId"/>, in order.</summary>
    public IReadOnlyList<OutboxEntry> ReadOutboxRange(long firstId, long lastId) => buffer.File.Locked(() => buffer.Outbox.ReadRange(firstId, lastId));

    /// <summary>
    /// Marks outbox batches (by <see cref="OutboxEntry.Id"/>) delivered: the next stage has every entry of them. Stores
    /// that stage's dead letters in the same transaction (an in-process writer's groups the FHIR server refused).
    /// Only a small marker is written; <see cref="PurgeDelivered"/> deletes the batches later. A batch delivered ahead
    /// of an older undelivered one is delivered again after a restart (duplicates are idempotent downstream).
    /// </summary>
    public void MarkDelivered(IReadOnlyList<long> batchIds, IReadOnlyList<GroupDeadLetter>? deadLetters = null, string? clearInHand = null) => buffer.File.Locked(() =>
    {
        ArgumentNullException.ThrowIfNull(batchIds);
        var outbox = buffer.Outbox;
        var upTo = outbox.UpToAfter(batchIds);
        if (deadLetters is { Count: > 0 } || clearInHand is not null || outbox.MarkerDue)
        {
            buffer.Accounting.Run(() => buffer.Accounting.StoreDeadLetters(deadLetters ?? Array.Empty<GroupDeadLetter>()), work => outbox.SaveMarker(upTo, work));
        }
        else
        {
            outbox.MoveMarker(upTo);
        }

        outbox.Deliver(batchIds);
        buffer.InHand.ClearAfterCommit(clearInHand);
    });

    /// <summary>
    /// Deletes outbox batches the next stage has (<see cref="MarkDelivered"/>), oldest first, in transactions of a few
    /// batches so ingest commits interleave. Runs while the outbox is nearly drained (forwarding comes first), or when
    /// delivered batches reach half <see cref="BufferOptions.MaxMessages"/> (the file stays bounded under a backlog
    /// that never drains). Returns how many messages' batches were deleted.
    /// </summary>
    public long PurgeDelivered() => BufferFile.Guard(() =>
    {
        long purged = 0;
        while (true)
        {
            lock (buffer.File.Gate)
            {
                var outbox = buffer.Outbox;
                if (outbox.AwaitingPurge == 0 || (outbox.Count > PurgeWhileUndeliveredBelow && outbox.AwaitingPurge < buffer.Options.MaxMessages / 2))
                {
                    return purged;
                }

                var units = outbox.PurgeSome();
                if (units == 0)
                {
                    // What is left was delivered ahead of an older batch: it waits until the marker passes it.
                    return purged;
                }

                purged += units;
            }
        }
    });

    /// <inheritdoc cref="InHandFiles.Read"/>
    public InHand? ReadInHand(string stage) => buffer.InHand.Read(stage);

    /// <inheritdoc cref="InHandFiles.Set"/>
    public void SetInHand(string stage, InHand inHand) => buffer.InHand.Set(stage, inHand);

    /// <inheritdoc cref="InHandFiles.Clear"/>
    public void ClearInHand(string stage) => buffer.InHand.Clear(stage);
}
