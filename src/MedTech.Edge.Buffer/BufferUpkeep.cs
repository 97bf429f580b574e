namespace MedTech.Edge.Buffer;

/// <summary>The buffer's housekeeping and gauges: statistics, time-to-live, purge of delivered batches, space reclaim.</summary>
public sealed class BufferUpkeep : IBufferUpkeep
{
    private readonly BufferState buffer;
    private readonly Outbox outbox;

    internal BufferUpkeep(BufferState buffer, Outbox outbox) => (this.buffer, this.outbox) = (buffer, outbox);

    public BufferStats Stats() => buffer.File.Locked(() =>
    {
        var accounting = buffer.Accounting.Current;
        var oldest = new[] { buffer.Inbox.OldestUtc, buffer.Outbox.OldestUtc }.Where(t => t is not null).Min();
        return new BufferStats(buffer.Inbox.Count, buffer.Outbox.Count, accounting.DeadLetterCount,
            oldest is null ? null : buffer.Time.GetUtcNow().UtcDateTime - oldest.Value, buffer.File.FileBytes(), buffer.Accounting.Dropped(), buffer.Outbox.AwaitingPurge)
        {
            OutboxMessages = buffer.Outbox.Messages,
            UnsentBytes = buffer.Unsent.Bytes,
            DeadLetterBytes = accounting.DeadLetterBytes,
            Committed = accounting.Committed,
            Replayed = accounting.Replayed,
            Normalized = accounting.Normalized,
            DeadLettered = accounting.DeadLettered,
            DroppedFromInbox = accounting.DroppedFromInbox,
            AtCapacity = buffer.AtCapacity,
        };
    });

    /// <summary>
    /// Drops unsent data older than the time-to-live, oldest first, and counts it; returns how many device messages.
    /// Dead letters older than <see cref="BufferOptions.DeadLetterTimeToLive"/> go too, counted as <see cref="GatewayStore.DroppedDeadLetterForTtl"/>.
    /// </summary>
    public int ExpireOld() => buffer.File.Locked(() =>
    {
        var now = buffer.Time.GetUtcNow().UtcDateTime;
        var dropped = BufferState.Dropped.Nothing;
        buffer.Accounting.Run(() =>
        {
            dropped = buffer.DropOldest(now - buffer.Options.TimeToLive, long.MaxValue, long.MaxValue, GatewayStore.DroppedForTtl);
            buffer.Accounting.ExpireDeadLetters(now - buffer.Options.DeadLetterTimeToLive);
        });
        return (int)buffer.Forget(dropped);
    });

    /// <inheritdoc cref="Outbox.PurgeDelivered"/>
    public long PurgeDelivered() => outbox.PurgeDelivered();

    /// <summary>
    /// Gives disk space back after a long outage has drained: LiteDB reuses freed pages but never shrinks the file,
    /// so when the file is large and mostly free it is rebuilt (about 43 µs per live document; ingest waits).
    /// </summary>
    public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => buffer.File.Locked(() =>
    {
        var live = buffer.Inbox.Count + buffer.Outbox.Count + buffer.Outbox.AwaitingPurge + buffer.Accounting.Current.DeadLetterCount;
        if (buffer.File.FileBytes() < minimumFileBytes || live * 2048 > buffer.File.FileBytes() / 4)
        {
            return false;
        }

        // The delivered marker first: the rebuild reloads it from the file, which may be up to a second behind.
        buffer.Outbox.SaveMarker(buffer.Outbox.DeliveredUpTo);
        buffer.File.Rebuild();
        return true;
    });
}
