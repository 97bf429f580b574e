namespace MedTech.Edge.Gateway;

/// <summary>Forward, whichever client sends: <see cref="OutboxForwarder"/> (Kafka) or <see cref="EventHubsForwarder"/> (Event Hubs SDK).</summary>
public interface IOutboxForwarder
{
    /// <summary>One round: how many entries the hub acknowledged and how many it refused for good (both 0 when the outbox is empty).</summary>
    /// <exception cref="HubUnavailableException">Entries were waiting and the hub took none of them.</exception>
    Task<ForwardResult> ForwardOnceAsync(CancellationToken cancellationToken);
}
