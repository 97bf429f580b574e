namespace MedTech.Edge.Buffer;

/// <summary>The stages' in-hand records (<see cref="InHandFiles"/>) and the reads a stage's recovery makes after a death.</summary>
public sealed partial class GatewayStore
{
    /// <summary>The in-hand record of Normalize and Group (ids are inbox message ids).</summary>
    public const string NormalizationInHand = "inHand:normalize";

    /// <summary>The in-hand record of the in-process writer (ids are outbox batch ids).</summary>
    public const string WriterInHand = "inHand:writer";

    /// <inheritdoc cref="InHandFiles.Read"/>
    public InHand? ReadInHand(string stage) => inHand.Read(stage);

    /// <inheritdoc cref="InHandFiles.Set"/>
    public void SetInHand(string stage, InHand inHand) => this.inHand.Set(stage, inHand);

    /// <inheritdoc cref="InHandFiles.Clear"/>
    public void ClearInHand(string stage) => inHand.Clear(stage);

    /// <summary>The inbox messages with ids from <paramref name="firstId"/> to <paramref name="lastId"/> that are still in the inbox, in id order.</summary>
    public IReadOnlyList<InboxMessage> ReadInboxRange(long firstId, long lastId) => Guard<IReadOnlyList<InboxMessage>>(() =>
    {
        lock (gate)
        {
            // The commit holding firstId may start before it.
            var commit = CommitOf(firstId);
            var from = commit > 0 ? commit : firstId;
            if (from > lastId)
            {
                return [];
            }

            var inbox = Collection(Inbox);
            return inboxCommitIds.GetViewBetween(from, lastId).ToList()
                .SelectMany(id => BufferDocuments.ToInboxMessages(inbox.FindById(id)))
                .Where(m => m.Id >= firstId && m.Id <= lastId)
                .ToList();
        }
    });

    /// <summary>The undelivered outbox entries of batches with ids from <paramref name="firstId"/> to <paramref name="lastId"/>, in order.</summary>
    public IReadOnlyList<OutboxEntry> ReadOutboxRange(long firstId, long lastId) => Guard<IReadOnlyList<OutboxEntry>>(() =>
    {
        lock (gate)
        {
            var outbox = Collection(Outbox);
            return firstId > lastId ? [] : undelivered.GetViewBetween(firstId, lastId).ToList()
                .SelectMany(id => BufferDocuments.ToOutboxEntries(outbox.FindById(id)))
                .ToList();
        }
    });

    private void ClearInHandAfterCommit(string? stage) => inHand.ClearAfterCommit(stage);
}
