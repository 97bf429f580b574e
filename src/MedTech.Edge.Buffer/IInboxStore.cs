namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer as ingest writes to it (through <see cref="InboxWriter"/>, or a source that stores one dead letter):
/// every call returns only once what it stored is committed, so the sender may be acknowledged after it and not before.
/// </summary>
public interface IInboxStore
{
    /// <summary>Stores received messages in one transaction; returns their ids, in order. <see cref="BufferFullException"/> at capacity.</summary>
    IReadOnlyList<long> Append(IReadOnlyList<InboxMessage> messages);

    /// <summary>Stores one dead letter that never went through the inbox (a message too large to keep whole).</summary>
    void AddDeadLetter(DeadLetter deadLetter);

    /// <summary>What one sender (client id as stored) still has in the buffer, for its share; lock-free.</summary>
    (long Messages, long Bytes) HeldBy(string clientId);

    /// <summary>A new storage engine on the same file after a failed write (a full disk), so ingest resumes without a restart.</summary>
    void Reopen();
}
