namespace MedTech.Edge.Buffer;

/// <summary>What the buffer holds: counts per collection, the age of the oldest unsent data, the file size, drops by reason.</summary>
public sealed record BufferStats(long Inbox, long Outbox, long DeadLetters, TimeSpan? OldestUnsentAge, long FileBytes, IReadOnlyDictionary<string, long> Dropped);
