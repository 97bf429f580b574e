using System.Text;

namespace MedTech.Edge.Buffer;

/// <summary>One client id's messages and bytes: in one inbox commit, in an outbox round, or in the whole buffer.</summary>
internal sealed record SenderShare(string ClientId, long Messages, long Bytes)
{
    /// <summary>The messages by client id (usually one sender per commit at a ward's rate, so the array is short).</summary>
    public static SenderShare[] Of(IEnumerable<(InboxMessage Message, long Size)> messages) =>
        [.. messages.GroupBy(m => m.Message.ClientId, StringComparer.Ordinal).Select(g => new SenderShare(g.Key, g.LongCount(), g.Sum(m => m.Size)))];

    /// <summary>The shares added up by client id (negative ones take away).</summary>
    public static IEnumerable<SenderShare> Sum(IEnumerable<SenderShare> shares) =>
        shares.GroupBy(s => s.ClientId, StringComparer.Ordinal).Select(g => new SenderShare(g.Key, g.Sum(s => s.Messages), g.Sum(s => s.Bytes)));

    public SenderShare Negated() => this with { Messages = -Messages, Bytes = -Bytes };

    /// <summary>
    /// Senders as an outbox batch stores them: one binary field (per sender: the client id as the inbox stores strings,
    /// <see cref="BufferStrings"/>, exact even with an unpaired surrogate; then messages and bytes as int64), like the
    /// batch's entries, not a BSON array.
    /// </summary>
    public static byte[] ToBinary(SenderShare[] senders)
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
    /// The senders of <see cref="ToBinary"/>; none for a batch written before they were kept, or for a replayed group
    /// (an operator's replay counts against no device). A damaged field counts as none: the share is a limit, not data.
    /// </summary>
    public static SenderShare[] FromBinary(byte[]? field)
    {
        if (field is null)
        {
            return [];
        }

        using var data = new MemoryStream(field, writable: false);
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
}
