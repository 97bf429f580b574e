namespace MedTech.Edge.Buffer;

/// <summary>
/// A message the pipeline could not use, kept whole with the reason code (MedTech's error names) and a readable
/// reason, so it can be listed and replayed after a mapping fix. The message may hold patient data: never log it.
/// </summary>
public sealed record DeadLetter(InboxMessage Message, string Code, string Reason, DateTime DeadLetteredUtc)
{
    public long Id { get; init; }
}
