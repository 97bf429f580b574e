namespace MedTech.Edge.Buffer;

/// <summary>The buffer's housekeeping and gauges: statistics, time-to-live, purge of delivered batches, space reclaim.</summary>
public sealed class BufferUpkeep : IBufferUpkeep
{
    private readonly BufferFile file;
    private readonly BufferState state;
    private readonly DeadLetterStore deadLetters;
    private readonly Outbox outbox;
    private readonly BufferOptions options;
    private readonly TimeProvider time;

    internal BufferUpkeep(BufferFile file, BufferState state, DeadLetterStore deadLetters, Outbox outbox, BufferOptions options, TimeProvider time)
    {
        this.file = file;
        this.state = state;
        this.deadLetters = deadLetters;
        this.outbox = outbox;
        this.options = options;
        this.time = time;
    }

    public BufferStats Stats() => file.Locked(() =>
    {
        var accounting = state.Accounting.Current;
        var oldest = new[] { state.Inbox.OldestUtc, state.Outbox.OldestUtc }.Where(t => t is not null).Min();
        return new BufferStats(state.Inbox.Count, state.Outbox.Count, accounting.DeadLetterCount,
            oldest is null ? null : time.GetUtcNow().UtcDateTime - oldest.Value, file.FileBytes(), state.Accounting.Dropped(), state.Outbox.AwaitingPurge)
        {
            OutboxMessages = state.Outbox.Messages,
            UnsentBytes = state.Unsent.Bytes,
            DeadLetterBytes = accounting.DeadLetterBytes,
            Committed = accounting.Committed,
            Replayed = accounting.Replayed,
            Normalized = accounting.Normalized,
            DeadLettered = accounting.DeadLettered,
            DroppedFromInbox = accounting.DroppedFromInbox,
        };
    });

    /// <summary>
    /// Drops unsent data older than the time-to-live, oldest first, and counts it; returns how many device messages.
    /// Dead letters older than <see cref="BufferOptions.DeadLetterTimeToLive"/> go too, counted as <see cref="GatewayStore.DroppedDeadLetterForTtl"/>.
    /// </summary>
    public int ExpireOld() => file.Locked(() =>
    {
        var now = time.GetUtcNow().UtcDateTime;
        var dropped = BufferState.Dropped.Nothing;
        state.Accounting.Run(() =>
        {
            dropped = state.DropOldest(now - options.TimeToLive, long.MaxValue, long.MaxValue, GatewayStore.DroppedForTtl);
            deadLetters.Expire(now - options.DeadLetterTimeToLive);
        });
        return (int)state.Forget(dropped);
    });

    /// <inheritdoc cref="Outbox.PurgeDelivered"/>
    public long PurgeDelivered() => outbox.PurgeDelivered();

    /// <summary>
    /// Gives disk space back after a long outage has drained: LiteDB reuses freed pages but never shrinks the file,
    /// so when the file is large and mostly free it is rebuilt (about 43 µs per live document; ingest waits).
    /// </summary>
    public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => file.Locked(() =>
    {
        var live = state.Inbox.Count + state.Outbox.Count + state.Outbox.AwaitingPurge + state.Accounting.Current.DeadLetterCount;
        if (file.FileBytes() < minimumFileBytes || live * 2048 > file.FileBytes() / 4)
        {
            return false;
        }

        file.Rebuild();
        return true;
    });
}
