using System.Text.Json;

namespace MedTech.Edge.Hub;

/// <summary>
/// One hub message carries one measurement group (a JSON object), or several groups of one device as a JSON array of
/// them. Event Hubs limits and bills a throughput unit by events (1,000 per second) as much as by bytes (1 MB per
/// second): a group is a few hundred bytes, so one event per group would make the event count the limit, for a ward's
/// steady traffic and even more for the catch-up after an outage. The writer reads both shapes.
/// </summary>
public static class PackedMessage
{
    /// <summary>The bytes of one hub message holding these groups in this order: a single group as it is, several as an array.</summary>
    public static byte[] Pack(IReadOnlyList<ReadOnlyMemory<byte>> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentOutOfRangeException.ThrowIfZero(groups.Count);
        if (groups.Count == 1)
        {
            return groups[0].ToArray();
        }

        // Every byte is written below: no need to zero it first (a drain packs hundreds of MB).
        var packed = GC.AllocateUninitializedArray<byte>(PackedLength(groups.Sum(g => g.Length), groups.Count));
        var at = 0;
        packed[at++] = (byte)'[';
        foreach (var group in groups)
        {
            if (at > 1)
            {
                packed[at++] = (byte)',';
            }

            group.Span.CopyTo(packed.AsSpan(at));
            at += group.Length;
        }

        packed[at] = (byte)']';
        return packed;
    }

    /// <summary>The size of a message packing <paramref name="count"/> groups of <paramref name="bytes"/> bytes in all.</summary>
    public static int PackedLength(int bytes, int count) => count == 1 ? bytes : bytes + count + 1;

    /// <summary>
    /// The groups of one hub message, as slices of it: the message itself unless it is a JSON array, else each element.
    /// Whether a slice is a valid measurement group is the reader's question, so one bad group does not take the others with it.
    /// </summary>
    /// <exception cref="JsonException">The message is an array that is not valid JSON.</exception>
    public static IReadOnlyList<ReadOnlyMemory<byte>> Split(ReadOnlyMemory<byte> message)
    {
        if (message.Span.TrimStart(" \t\r\n"u8) is not [(byte)'[', ..])
        {
            return [message];
        }

        var reader = new Utf8JsonReader(message.Span);
        reader.Read();

        var groups = new List<ReadOnlyMemory<byte>>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            groups.Add(message[start..(int)reader.BytesConsumed]);
        }

        if (reader.TokenType != JsonTokenType.EndArray || reader.Read())
        {
            throw new JsonException("A packed hub message must be one JSON array of measurement groups.");
        }

        return groups;
    }
}
