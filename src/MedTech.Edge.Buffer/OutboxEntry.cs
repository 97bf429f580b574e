namespace MedTech.Edge.Buffer;

/// <summary>A message waiting for the hub: its partition key (the device id, for order per device) and its bytes.</summary>
public sealed record OutboxEntry(string Key, ReadOnlyMemory<byte> Payload, DateTime CreatedUtc)
{
    public long Id { get; init; }
}
