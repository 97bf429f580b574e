namespace MedTech.Edge.Buffer;

/// <summary>The dead letters as an operator handles them: list, show, and replay after a fix.</summary>
public interface IDeadLetters
{
    /// <summary>The device messages' dead letters, oldest first, optionally of one reason code.</summary>
    IReadOnlyList<DeadLetter> ListDeadLetters(string? code = null);

    /// <summary>The measurement groups' dead letters (<see cref="GroupDeadLetter"/>), oldest first, optionally of one reason code.</summary>
    IReadOnlyList<GroupDeadLetter> ListGroupDeadLetters(string? code = null);

    /// <summary>Moves dead letters back: device messages to the inbox, groups to the outbox; returns how many.</summary>
    int ReplayDeadLetters(string? code = null);
}
