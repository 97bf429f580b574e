namespace MedTech.Edge.Buffer;

/// <summary>
/// A device message as received: what the Normalize stage needs to build MedTech's envelope (payload, MQTT topic and
/// user properties, the authenticated client id, the receive time). <see cref="Id"/> is assigned by the buffer,
/// increasing in arrival order.
/// </summary>
/// <remarks>
/// <see cref="Authenticated"/> travels with the message (it is part of the stored record): whether the message is
/// bound to an identity is decided by how its client logged in when it was received, not by the configuration at the
/// time it is normalized or replayed.
/// </remarks>
public sealed record InboxMessage(string ClientId, string Topic, ReadOnlyMemory<byte> Payload, DateTime ReceivedUtc, IReadOnlyDictionary<string, string> Properties)
{
    public long Id { get; init; }

    /// <summary>
    /// <see cref="ClientId"/> is a verified device identity: a device password or client certificate at the embedded
    /// broker, or, from an external broker, the device id of a topic its ACLs pin. Normalize then accepts only
    /// measurements of that device (or of the devices it is configured to report for). False for an anonymous client,
    /// and for records stored before this was kept (they were accepted unbound).
    /// </summary>
    public bool Authenticated { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the message's ingest span, when spans are recorded (null otherwise, and for records
    /// stored before this was kept): normalization continues the reading's trace from it, after a restart too.
    /// </summary>
    public string? TraceParent { get; init; }
}
