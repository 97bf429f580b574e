using System.Collections.Concurrent;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The inbox by sender: how many messages and bytes each client id has waiting for Normalize, so the broker can refuse
/// a device over its share of the buffer (<see cref="InboxHeldBy"/>) without reading the file. Kept in memory beside
/// the commit index, changed only where the index changes (each commit carries its own breakdown), and rebuilt from
/// the file at every open, so it is right after a restart as after a round.
/// </summary>
public sealed partial class GatewayStore
{
    // Read without the store's lock: the broker asks for every publish, and the lock is held while a commit forces the
    // disk. Each value is replaced whole (an immutable record), so a reader never sees half an update.
    private readonly ConcurrentDictionary<string, SenderShare> inboxBySender = new(StringComparer.Ordinal);

    /// <summary>
    /// The messages and bytes that <paramref name="clientId"/> (the client id as stored) has in the inbox, waiting for
    /// Normalize; zero for one that has none. Cheap and lock-free; it may trail a commit in progress by that commit.
    /// </summary>
    public (long Messages, long Bytes) InboxHeldBy(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return inboxBySender.TryGetValue(clientId, out var held) ? (held.Messages, held.Bytes) : (0, 0);
    }

    private void TrackSenders(SenderShare[] senders)
    {
        foreach (var sender in senders)
        {
            inboxBySender.AddOrUpdate(sender.ClientId, sender, (_, held) => held with { Messages = held.Messages + sender.Messages, Bytes = held.Bytes + sender.Bytes });
        }
    }

    private void UntrackSenders(SenderShare[] senders)
    {
        foreach (var sender in senders)
        {
            if (!inboxBySender.TryGetValue(sender.ClientId, out var held))
            {
                continue;
            }

            // A sender with nothing left is forgotten: client ids come from devices, and the map must not grow with each one ever seen.
            var left = held with { Messages = held.Messages - sender.Messages, Bytes = held.Bytes - sender.Bytes };
            if (left.Messages <= 0)
            {
                inboxBySender.TryRemove(sender.ClientId, out _);
            }
            else
            {
                inboxBySender[sender.ClientId] = left;
            }
        }
    }

    /// <summary>One client id's messages and bytes, in one commit or in the whole inbox.</summary>
    private sealed record SenderShare(string ClientId, long Messages, long Bytes)
    {
        /// <summary>The messages by client id (usually one sender per commit at a ward's rate, so the array is short).</summary>
        public static SenderShare[] Of(IEnumerable<(InboxMessage Message, long Size)> messages) =>
            [.. messages.GroupBy(m => m.Message.ClientId, StringComparer.Ordinal).Select(g => new SenderShare(g.Key, g.LongCount(), g.Sum(m => m.Size)))];
    }
}
