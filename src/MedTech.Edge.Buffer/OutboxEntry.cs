namespace MedTech.Edge.Buffer;

/// <summary>
/// A message waiting for the hub: its partition key (the device id, for order per device) and its bytes.
/// <see cref="Id"/> is the outbox batch it was stored in (one per normalization round): a batch is deleted whole.
/// </summary>
public sealed record OutboxEntry(string Key, ReadOnlyMemory<byte> Payload, DateTime CreatedUtc)
{
    public long Id { get; init; }

    /// <summary>The W3C <c>traceparent</c> of the span that made the group (normalize), when spans are recorded; the forward span continues it.</summary>
    public string? TraceParent { get; init; }
}
