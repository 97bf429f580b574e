namespace MedTech.Edge.Buffer;

/// <summary>Dead letters that come straight from ingest, never through the inbox (a message too large to store whole).</summary>
public sealed partial class GatewayStore
{
    /// <summary>Stores one dead letter in its own transaction; when this returns it is committed and the message may be acknowledged.</summary>
    public void AddDeadLetter(DeadLetter deadLetter) => Guard(() =>
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        lock (gate)
        {
            Transaction(() => Collection(DeadLetters).Insert(BufferDocuments.ToDocument(deadLetter)));
            if (options.ForceToDisk)
            {
                // As for the inbox: the broker forgets the message on our ack.
                ForceToDisk();
            }
        }
    });
}
