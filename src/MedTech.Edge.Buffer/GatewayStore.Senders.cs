using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>The senders' shares of the buffer (<see cref="SenderLedger"/>) and how an outbox round carries them.</summary>
public sealed partial class GatewayStore
{
    /// <summary>The outbox batch field with the senders of the round it ends (<see cref="SenderShare.ToBinary"/>).</summary>
    private const string SendersField = "senders";

    /// <inheritdoc cref="SenderLedger.HeldBy"/>
    public (long Messages, long Bytes) HeldBy(string clientId) => ledger.HeldBy(clientId);

    private void TrackSenders(SenderShare[] shares) => ledger.Track(shares);

    private void UntrackSenders(SenderShare[] shares) => ledger.Untrack(shares);

    /// <summary>
    /// The senders behind a round's outbox batches: what <paramref name="removed"/> takes from the inbox, less the
    /// <paramref name="deadLettered"/> messages among it, with <paramref name="outboxBytes"/> (the round's batches)
    /// shared out by the inbox bytes each sender had in it, so the senders' bytes add up to what the outbox holds.
    /// Call inside the round's transaction, before <see cref="ApplyInbox"/>.
    /// </summary>
    private SenderShare[] OutboxSenders(List<InboxChange> removed, IEnumerable<InboxMessage> deadLettered, long outboxBytes)
    {
        var taken = removed.SelectMany(c => inboxCommits[c.Id].Senders.Concat((c.Remaining?.Senders ?? []).Select(s => s.Negated())))
            .Concat(SenderShare.Of(deadLettered.Select(m => (m, BufferDocuments.Size(m)))).Select(s => s.Negated()));
        var shares = SenderShare.Sum(taken).Where(s => s.Messages > 0).ToArray();
        var inboxBytes = shares.Sum(s => Math.Max(0, s.Bytes));
        long given = 0;
        for (var i = 0; i < shares.Length; i++)
        {
            // The rest of the division goes to the last, so none of the outbox's bytes count against nobody.
            var share = i == shares.Length - 1 ? outboxBytes - given
                : inboxBytes == 0 ? 0 : (long)((Int128)outboxBytes * Math.Max(0, shares[i].Bytes) / inboxBytes);
            given += share;
            shares[i] = shares[i] with { Bytes = share };
        }

        return shares;
    }

    private static byte[] SendersToBinary(SenderShare[] shares) => SenderShare.ToBinary(shares);

    /// <summary>The senders an outbox batch carries (<see cref="SenderShare.FromBinary"/>).</summary>
    private static SenderShare[] SendersOf(BsonDocument batch) =>
        SenderShare.FromBinary(batch.TryGetValue(SendersField, out var field) && field.IsBinary ? field.AsBinary : null);
}
