namespace MedTech.Edge.Buffer;

/// <summary>
/// A message waiting for the hub: its partition key (the device id, for order per device) and its bytes.
/// <see cref="Id"/> is the outbox batch it was stored in (one per normalization round): a batch is deleted whole.
/// </summary>
public sealed record OutboxEntry(string Key, ReadOnlyMemory<byte> Payload, DateTime CreatedUtc)
{
    public long Id { get; init; }
}
