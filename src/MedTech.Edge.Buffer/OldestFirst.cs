namespace MedTech.Edge.Buffer;

/// <summary>
/// The walk that eviction and expiry make over the inbox's commits and the outbox's batches alike: from the oldest,
/// while older than a cutoff, until at least so many device messages and so many bytes are taken.
/// </summary>
internal static class OldestFirst
{
    /// <summary>A commit or batch: its id, its time, the messages and bytes it holds.</summary>
    public readonly record struct Item(long Id, DateTime Utc, long Units, long Bytes);

    /// <summary>What the walk took whole (<see cref="Ids"/>, with their messages and bytes), and the item it stopped in, if any.</summary>
    public sealed record Taken(List<long> Ids, long? Partial, long Units, long Bytes);

    /// <summary>
    /// Takes <paramref name="items"/> (oldest first) while from before <paramref name="cutoff"/>, until at least
    /// <paramref name="max"/> messages and <paramref name="maxBytes"/> bytes are taken. <paramref name="whole"/> (given
    /// the item and what is taken so far) says whether an item goes whole; the first that does not is
    /// <see cref="Taken.Partial"/>, and the walk ends there.
    /// </summary>
    public static Taken Take(IEnumerable<Item> items, DateTime cutoff, long max, long maxBytes, Func<Item, long, long, bool>? whole = null)
    {
        var ids = new List<long>();
        long units = 0;
        long bytes = 0;
        foreach (var item in items)
        {
            if ((units >= max && bytes >= maxBytes) || item.Utc >= cutoff)
            {
                break;
            }

            if (whole is not null && !whole(item, units, bytes))
            {
                return new Taken(ids, item.Id, units, bytes);
            }

            ids.Add(item.Id);
            units += item.Units;
            bytes += item.Bytes;
        }

        return new Taken(ids, null, units, bytes);
    }
}
