namespace MedTech.Edge.Buffer;

/// <summary>
/// A device message as received: what the Normalize stage needs to build MedTech's envelope (payload, MQTT topic and
/// user properties, the authenticated client id, the receive time). <see cref="Id"/> is assigned by the buffer,
/// increasing in arrival order.
/// </summary>
public sealed record InboxMessage(string ClientId, string Topic, ReadOnlyMemory<byte> Payload, DateTime ReceivedUtc, IReadOnlyDictionary<string, string> Properties)
{
    public long Id { get; init; }
}
