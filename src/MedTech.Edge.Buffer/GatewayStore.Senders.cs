using System.Collections.Concurrent;
using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// What each sender (client id) still has in the buffer: its messages waiting for Normalize, and the device messages
/// behind undelivered outbox batches made from them, with their bytes. The broker refuses a device over its share of
/// the buffer from this (<see cref="HeldBy"/>) without reading the file. Counting the outbox matters most: during an
/// uplink outage, which is what the buffer is for, Normalize keeps the inbox empty and only the outbox grows.
/// Kept in memory beside the commit and outbox indexes, changed only where they change, and rebuilt from the file at
/// every open (inbox commits hold their client ids; an outbox batch carries its round's senders in a small field), so
/// it is right after a restart as after a round. Dead letters count against nobody: they have their own limits.
/// </summary>
public sealed partial class GatewayStore
{
    /// <summary>The outbox batch field with the senders of the round it ends (<see cref="SendersToBinary"/>).</summary>
    private const string SendersField = "senders";

    // Read without the store's lock: the broker asks for every publish, and the lock is held while a commit forces the
    // disk. Each value is replaced whole (an immutable record), so a reader never sees half an update.
    private readonly ConcurrentDictionary<string, SenderShare> heldBySender = new(StringComparer.Ordinal);

    /// <summary>
    /// The messages and bytes that <paramref name="clientId"/> (the client id as stored) still has in the buffer: in
    /// the inbox, and behind undelivered outbox batches (their bytes shared out by the bytes each sender put in); zero
    /// for one that has none. Cheap and lock-free; it may trail a commit in progress by that commit.
    /// </summary>
    public (long Messages, long Bytes) HeldBy(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return heldBySender.TryGetValue(clientId, out var held) ? (held.Messages, held.Bytes) : (0, 0);
    }

    private void TrackSenders(SenderShare[] senders)
    {
        foreach (var sender in senders)
        {
            heldBySender.AddOrUpdate(sender.ClientId, sender, (_, held) => held with { Messages = held.Messages + sender.Messages, Bytes = held.Bytes + sender.Bytes });
        }
    }

    private void UntrackSenders(SenderShare[] senders)
    {
        foreach (var sender in senders)
        {
            if (!heldBySender.TryGetValue(sender.ClientId, out var held))
            {
                continue;
            }

            // A sender with nothing left is forgotten: client ids come from devices, and the map must not grow with each one ever seen.
            var left = held with { Messages = held.Messages - sender.Messages, Bytes = held.Bytes - sender.Bytes };
            if (left.Messages <= 0)
            {
                heldBySender.TryRemove(sender.ClientId, out _);
            }
            else
            {
                heldBySender[sender.ClientId] = left;
            }
        }
    }

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
        var senders = SenderShare.Sum(taken).Where(s => s.Messages > 0).ToArray();
        var inboxBytes = senders.Sum(s => Math.Max(0, s.Bytes));
        long given = 0;
        for (var i = 0; i < senders.Length; i++)
        {
            // The rest of the division goes to the last, so none of the outbox's bytes count against nobody.
            var share = i == senders.Length - 1 ? outboxBytes - given
                : inboxBytes == 0 ? 0 : (long)((Int128)outboxBytes * Math.Max(0, senders[i].Bytes) / inboxBytes);
            given += share;
            senders[i] = senders[i] with { Bytes = share };
        }

        return senders;
    }

    /// <summary>
    /// Senders as an outbox batch stores them: one binary field (per sender: the client id as the inbox stores strings,
    /// <see cref="BufferStrings"/>, exact even with an unpaired surrogate; then messages and bytes as int64), like the
    /// batch's entries, not a BSON array.
    /// </summary>
    private static byte[] SendersToBinary(SenderShare[] senders)
    {
        using var data = new MemoryStream();
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            foreach (var sender in senders)
            {
                BufferStrings.Write(writer, sender.ClientId);
                writer.Write(sender.Messages);
                writer.Write(sender.Bytes);
            }
        }

        return data.ToArray();
    }

    /// <summary>
    /// The senders an outbox batch carries; none for one written before they were kept, or for a replayed group (an
    /// operator's replay counts against no device). A damaged field counts as none: the share is a limit, not data.
    /// </summary>
    private static SenderShare[] SendersOf(BsonDocument batch)
    {
        if (!batch.TryGetValue(SendersField, out var field) || !field.IsBinary)
        {
            return [];
        }

        using var data = new MemoryStream(field.AsBinary, writable: false);
        using var reader = new BinaryReader(data, Encoding.UTF8);
        var senders = new List<SenderShare>();
        try
        {
            while (data.Position < data.Length)
            {
                // A damaged length must not make the reader allocate what it announces.
                var at = data.Position;
                var length = reader.Read7BitEncodedInt64() >> 1;
                if (length < 0 || length > data.Length - data.Position - 16)
                {
                    return [];
                }

                data.Position = at;
                senders.Add(new SenderShare(BufferStrings.Read(reader), reader.ReadInt64(), reader.ReadInt64()));
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or FormatException or OverflowException)
        {
            return [];
        }

        return [.. senders];
    }

    /// <summary>One client id's messages and bytes: in one inbox commit, in an outbox round, or in the whole buffer.</summary>
    private sealed record SenderShare(string ClientId, long Messages, long Bytes)
    {
        /// <summary>The messages by client id (usually one sender per commit at a ward's rate, so the array is short).</summary>
        public static SenderShare[] Of(IEnumerable<(InboxMessage Message, long Size)> messages) =>
            [.. messages.GroupBy(m => m.Message.ClientId, StringComparer.Ordinal).Select(g => new SenderShare(g.Key, g.LongCount(), g.Sum(m => m.Size)))];

        /// <summary>The shares added up by client id (negative ones take away).</summary>
        public static IEnumerable<SenderShare> Sum(IEnumerable<SenderShare> shares) =>
            shares.GroupBy(s => s.ClientId, StringComparer.Ordinal).Select(g => new SenderShare(g.Key, g.Sum(s => s.Messages), g.Sum(s => s.Bytes)));

        public SenderShare Negated() => this with { Messages = -Messages, Bytes = -Bytes };
    }
}
