using Confluent.Kafka;

namespace MedTech.Edge.Writer;

/// <summary>
/// Hands the writer consumer's revocations to the <see cref="HubWriterWorker"/>: the consumer is built before the
/// worker, and Confluent.Kafka takes rebalance handlers only while building. The handlers run inside
/// <c>Consume</c> (and <c>Close</c>), on the thread that calls it, before the partitions are given up.
/// </summary>
public sealed class RebalanceRelay
{
    /// <summary>Called with the partitions given up, and whether they were lost (the group went on without this member) rather than revoked.</summary>
    public Action<IReadOnlyList<TopicPartitionOffset>, bool>? Revoked { get; set; }

    public void Attach(ConsumerBuilder<string, byte[]> builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.SetPartitionsRevokedHandler((_, partitions) => Revoked?.Invoke(partitions, false))
            .SetPartitionsLostHandler((_, partitions) => Revoked?.Invoke(partitions, true));
    }
}
