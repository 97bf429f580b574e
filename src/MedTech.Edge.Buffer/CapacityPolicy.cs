namespace MedTech.Edge.Buffer;

/// <summary>What the gateway does when the buffer is full. Either way, nothing is dropped silently.</summary>
public enum CapacityPolicy
{
    /// <summary>Refuse new messages (no acknowledgement, so QoS 1 devices retry) until there is room.</summary>
    StopAccepting,

    /// <summary>Make room by dropping the oldest unsent data, each drop counted as <c>capacity</c>.</summary>
    EvictOldest,
}
