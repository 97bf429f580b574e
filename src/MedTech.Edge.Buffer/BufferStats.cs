namespace MedTech.Edge.Buffer;

/// <summary>
/// What the buffer holds: counts per collection (<paramref name="Outbox"/>: measurement groups not yet delivered), the
/// age of the oldest unsent data, the file size, drops by reason (device messages; dead letters dropped under
/// <c>deadletter_capacity</c> and <c>deadletter_ttl</c>), and delivered groups whose space is not yet purged. The
/// accounting counters are kept in the file, updated in the transactions that move messages, so they hold across
/// restarts: see <see cref="Unaccounted"/>.
/// </summary>
public sealed record BufferStats(long Inbox, long Outbox, long DeadLetters, TimeSpan? OldestUnsentAge, long FileBytes, IReadOnlyDictionary<string, long> Dropped, long DeliveredAwaitingPurge)
{
    /// <summary>Device messages behind the undelivered outbox groups (what <see cref="BufferOptions.MaxMessages"/> counts, with <see cref="Inbox"/>).</summary>
    public long OutboxMessages { get; init; }

    /// <summary>Bytes of unsent data held, inbox and outbox (what <see cref="BufferOptions.MaxBytes"/> counts).</summary>
    public long UnsentBytes { get; init; }

    /// <summary>Bytes of dead letters held (what <see cref="BufferOptions.MaxDeadLetterBytes"/> counts).</summary>
    public long DeadLetterBytes { get; init; }

    /// <summary>A commit the size of the last one refused, or that evicted the oldest, for capacity would still not fit (see <see cref="BufferOptions.CapacityPolicy"/>).</summary>
    public bool AtCapacity { get; init; }

    /// <summary>Device messages committed to the inbox (received and acknowledged).</summary>
    public long Committed { get; init; }

    /// <summary>Dead letters moved back to the inbox (each goes through normalization again).</summary>
    public long Replayed { get; init; }

    /// <summary>Inbox messages normalized into the outbox.</summary>
    public long Normalized { get; init; }

    /// <summary>Inbox messages dead-lettered by normalization.</summary>
    public long DeadLettered { get; init; }

    /// <summary>Inbox messages dropped unnormalized (capacity, time-to-live).</summary>
    public long DroppedFromInbox { get; init; }

    /// <summary>
    /// Committed + replayed − normalized − dead-lettered − dropped from the inbox − inbox pending: zero when every
    /// message the buffer took is accounted for, whatever it went through.
    /// </summary>
    public long Unaccounted => Committed + Replayed - Normalized - DeadLettered - DroppedFromInbox - Inbox;
}
