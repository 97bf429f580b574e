namespace MedTech.Edge.Buffer;

/// <summary>
/// What the buffer holds: counts per collection (<paramref name="Outbox"/>: not yet delivered), the age of the oldest
/// unsent data, the file size, drops by reason, and delivered messages whose space is not yet purged.
/// </summary>
public sealed record BufferStats(long Inbox, long Outbox, long DeadLetters, TimeSpan? OldestUnsentAge, long FileBytes, IReadOnlyDictionary<string, long> Dropped, long DeliveredAwaitingPurge);
