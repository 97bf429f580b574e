namespace MedTech.Edge.Buffer;

/// <summary>
/// A message the pipeline could not use, kept whole with the reason code (MedTech's error names) and a readable
/// reason, so it can be listed and replayed after a mapping fix. The message may hold patient data: never log it.
/// The store keeps the message byte for byte but bounds <see cref="Code"/> and <see cref="Reason"/>
/// (<see cref="MaxCodeLength"/>, <see cref="MaxReasonLength"/>), whoever made the dead letter.
/// </summary>
public sealed record DeadLetter(InboxMessage Message, string Code, string Reason, DateTime DeadLetteredUtc)
{
    /// <summary>
    /// Reason text kept, in characters: enough for the first few errors of a message. A reason built from a device's
    /// values (one error per value of a 10,000-value message) could otherwise take LiteDB's whole document limit.
    /// </summary>
    public const int MaxReasonLength = 4096;

    /// <summary>Code kept, in characters: it is indexed, and LiteDB index keys must stay under 1023 bytes (3 bytes a character at most in UTF-8).</summary>
    public const int MaxCodeLength = 128;

    public long Id { get; init; }

    /// <summary>
    /// <paramref name="text"/> cut to at most <paramref name="max"/> characters, saying how much was cut, never between
    /// the two halves of a surrogate pair.
    /// </summary>
    public static string Bound(string text, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length <= max)
        {
            return text;
        }

        var cut = Math.Max(0, max - 32);
        if (cut > 0 && char.IsHighSurrogate(text[cut - 1]))
        {
            cut--;
        }

        var note = $"… (+{text.Length - cut} chars)";
        return string.Concat(text.AsSpan(0, cut), note.AsSpan(0, Math.Min(note.Length, max - cut)));
    }
}
