namespace MedTech.Edge.Buffer;

/// <summary>
/// A measurement group a forwarder could not deliver: the hub refused it for good, or the in-process FHIR writer could
/// not write it. Kept whole beside the device messages' dead letters (the same share of the file, the same codes and
/// reason bounds), and replayed into the outbox, not through normalization. The payload may hold patient data.
/// </summary>
public sealed record GroupDeadLetter(string Key, ReadOnlyMemory<byte> Payload, string Code, string Reason, DateTime DeadLetteredUtc)
{
    public long Id { get; init; }
}
