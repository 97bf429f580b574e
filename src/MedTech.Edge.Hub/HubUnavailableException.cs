namespace MedTech.Edge.Hub;

/// <summary>The hub acknowledged nothing of a round (unreachable, refusing, timed out); the outbox keeps everything.</summary>
public sealed class HubUnavailableException(string message) : Exception(message);
