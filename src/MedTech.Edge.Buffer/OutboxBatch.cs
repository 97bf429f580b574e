namespace MedTech.Edge.Buffer;

/// <summary>
/// An undelivered outbox batch as the index keeps it: entries (hub messages), the device messages behind them, bytes,
/// time, and the senders it releases when it leaves (those of its round, on the round's last batch; <see cref="SenderLedger"/>).
/// </summary>
internal readonly record struct OutboxBatch(int Units, long Messages, long Bytes, DateTime CreatedUtc, SenderShare[] Senders);

/// <summary>A round over several outbox documents: how many are undelivered, their bytes, and what its senders still hold.</summary>
internal sealed class OutboxRound
{
    public int Left { get; set; }

    public long Bytes { get; set; }

    public required SenderShare[] Senders { get; set; }

    /// <summary>
    /// What one document leaving gives back: its share of each sender's bytes; with the round's last document,
    /// everything left, the messages too (a message may lie in any of the round's documents).
    /// </summary>
    public SenderShare[] Leave(long bytes)
    {
        if (--Left == 0)
        {
            return Senders;
        }

        var part = Senders.Select(s => s with { Messages = 0, Bytes = Bytes <= 0 ? 0 : (long)((Int128)s.Bytes * Math.Max(0, bytes) / Bytes) }).ToArray();
        Senders = [.. Senders.Zip(part, (s, p) => s with { Bytes = s.Bytes - p.Bytes })];
        Bytes -= bytes;
        return part;
    }

    /// <summary>
    /// The senders behind a round: what it took from the inbox by sender (<paramref name="taken"/>, summed), with the
    /// round's <paramref name="outboxBytes"/> shared out by the inbox bytes each sender had in it, so the senders'
    /// bytes add up to what the outbox holds.
    /// </summary>
    public static SenderShare[] SendersOf(IEnumerable<SenderShare> taken, long outboxBytes)
    {
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
}
