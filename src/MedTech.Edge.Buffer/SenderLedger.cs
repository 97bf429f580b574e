using System.Collections.Concurrent;

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
internal sealed class SenderLedger
{
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

    public void Track(SenderShare[] senders)
    {
        foreach (var sender in senders)
        {
            heldBySender.AddOrUpdate(sender.ClientId, sender, (_, held) => held with { Messages = held.Messages + sender.Messages, Bytes = held.Bytes + sender.Bytes });
        }
    }

    public void Untrack(SenderShare[] senders)
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

    public void Clear() => heldBySender.Clear();
}
