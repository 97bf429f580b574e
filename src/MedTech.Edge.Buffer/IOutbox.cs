namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer as a forwarder sees it (the Kafka forwarder, the Event Hubs forwarder, the in-process FHIR writer): read
/// the oldest undelivered groups, then mark them delivered, with the groups refused for good as dead letters
/// in the same transaction (<see cref="GroupDeadLetter"/>). The in-hand records are for a writer that may die on a group.
/// </summary>
public interface IOutbox : IInHandRecords
{
    /// <summary>The oldest undelivered entries with a batch id above <paramref name="afterBatchId"/>, in whole batches.</summary>
    IReadOnlyList<OutboxEntry> ReadOutbox(int max, long afterBatchId = 0);

    /// <summary>The undelivered entries of the batches with ids in the range (recovery after a death).</summary>
    IReadOnlyList<OutboxEntry> ReadOutboxRange(long firstId, long lastId);

    /// <summary>Marks batches delivered and stores <paramref name="deadLetters"/> in one transaction.</summary>
    void MarkDelivered(IReadOnlyList<long> batchIds, IReadOnlyList<GroupDeadLetter>? deadLetters = null, string? clearInHand = null);
}
