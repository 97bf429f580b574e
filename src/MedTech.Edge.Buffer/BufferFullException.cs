namespace MedTech.Edge.Buffer;

/// <summary>The buffer is at capacity with the StopAccepting policy: the message is not acknowledged, the device retries.</summary>
public sealed class BufferFullException(long held, long limit, string unit = "messages")
    : Exception($"The buffer holds {held} {unit}, its limit is {limit}; new messages are refused until the hub drains it.");
