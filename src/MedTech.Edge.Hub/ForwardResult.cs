namespace MedTech.Edge.Hub;

/// <summary>What one forwarding round did: entries the hub acknowledged, and entries it refused for good (now dead letters).</summary>
public readonly record struct ForwardResult(int Acknowledged, int Rejected)
{
    /// <summary>
    /// When each acknowledged entry was committed to the outbox (for the commit-to-acknowledged latency); null, not empty,
    /// when none was, so a round that delivered nothing still equals <c>default</c>.
    /// </summary>
    public IReadOnlyList<DateTime>? AcknowledgedCommittedUtc { get; init; }
}
