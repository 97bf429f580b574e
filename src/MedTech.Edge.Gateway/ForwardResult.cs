namespace MedTech.Edge.Gateway;

/// <summary>What one forwarding round did: entries the hub acknowledged, and entries it refused for good (now dead letters).</summary>
public readonly record struct ForwardResult(int Acknowledged, int Rejected)
{
    /// <summary>
    /// When each acknowledged entry was committed to the outbox, for the commit-to-acknowledged latency; null when none
    /// was. A measurement beside the result, not part of it: equality compares the counts only, so a round that
    /// delivered nothing still equals <c>default</c>.
    /// </summary>
    public IReadOnlyList<DateTime>? AcknowledgedCommittedUtc { get; init; }

    public bool Equals(ForwardResult other) => Acknowledged == other.Acknowledged && Rejected == other.Rejected;

    public override int GetHashCode() => HashCode.Combine(Acknowledged, Rejected);
}
