namespace MedTech.Edge.Buffer;

/// <summary>The dead letters as an operator handles them: list, show, and replay after a fix.</summary>
public interface IDeadLetters
{
    /// <summary>Device messages and groups, oldest first, optionally of one reason code.</summary>
    IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null);

    /// <summary>Moves dead letters back: device messages to the inbox, groups to the outbox; returns how many.</summary>
    int ReplayDeadLetters(string? code = null);
}
