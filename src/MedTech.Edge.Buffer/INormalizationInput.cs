namespace MedTech.Edge.Buffer;

/// <summary>The buffer as Normalize and Group sees it: the inbox to read, and one transaction that moves a round on.</summary>
public interface INormalizationInput : IInHandRecords
{
    /// <summary>The oldest received messages, in arrival order, in whole commits, up to about <paramref name="max"/>.</summary>
    IReadOnlyList<InboxMessage> ReadInbox(int max);

    /// <summary>The inbox messages with ids in the range that are still there (recovery after a death).</summary>
    IReadOnlyList<InboxMessage> ReadInboxRange(long firstId, long lastId);

    /// <summary>The messages leave the inbox in the transaction that stores their groups and dead letters.</summary>
    void CompleteNormalization(IReadOnlyList<long> inboxIds, IReadOnlyList<OutboxEntry> entries, IReadOnlyList<DeadLetter> deadLetters,
        string? clearInHand = null, long? deviceMessages = null);
}
