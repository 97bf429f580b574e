namespace MedTech.Edge.Buffer;

/// <summary>The LiteDB collections of a buffer file.</summary>
internal static class BufferCollections
{
    public const string Inbox = "inbox";
    public const string Outbox = "outbox";
    public const string DeadLetters = "deadletters";
    public const string Counters = "counters";
    public const string State = "state";

    /// <summary>The collections a buffer file may hold; a LiteDB file with any other is not a gateway buffer.</summary>
    public static readonly string[] All = [Inbox, Outbox, DeadLetters, Counters, State];
}
