using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;

namespace MedTech.Edge.Gateway;

/// <summary>Which outbox entries of a round share a hub message (<see cref="PackedMessage"/>); the same for every transport.</summary>
public static class OutboxPacking
{
    /// <summary>
    /// A device's entries of the round, in order, until the next would take the message past
    /// <paramref name="packUpToBytes"/>. Each message holds one device, so its order is kept. Returns indices into
    /// <paramref name="entries"/>, one list per hub message, in the order the first entry of each appears.
    /// </summary>
    public static List<List<int>> Pack(IReadOnlyList<OutboxEntry> entries, int packUpToBytes)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var messages = new List<List<int>>();
        var open = new Dictionary<string, (List<int> Indices, int Bytes)>();
        for (var i = 0; i < entries.Count; i++)
        {
            var (key, length) = (entries[i].Key, entries[i].Payload.Length);
            if (open.TryGetValue(key, out var pack) && PackedMessage.PackedLength(pack.Bytes + length, pack.Indices.Count + 1) <= packUpToBytes)
            {
                pack.Indices.Add(i);
                open[key] = (pack.Indices, pack.Bytes + length);
                continue;
            }

            var indices = new List<int> { i };
            messages.Add(indices);
            open[key] = (indices, length);
        }

        return messages;
    }
}
