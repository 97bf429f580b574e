using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The dead letters' collection: every producer's go through <see cref="Store"/>, which keeps them to their own share
/// of the file (<see cref="BufferOptions.MaxDeadLetters"/>, <see cref="BufferOptions.MaxDeadLetterBytes"/>), and
/// <see cref="Expire"/> applies <see cref="BufferOptions.DeadLetterTimeToLive"/>: beyond either the oldest go, counted,
/// so a device sending garbage cannot grow the file without end. It works inside the store's transaction on the totals
/// the store's accounting holds (<see cref="Totals"/>), which the store moves in that same transaction.
/// </summary>
internal sealed class DeadLetterShelf(BufferOptions options)
{
    public const string Collection = "deadletters";

    /// <summary>The dead letters' count and bytes, and how many a change dropped to stay within the share or the time-to-live.</summary>
    public readonly record struct Totals(long Count, long Bytes, long Dropped = 0);

    /// <summary>Stored documents of one reason code, or all; in no particular order.</summary>
    public static IEnumerable<BsonDocument> Find(ILiteCollection<BsonDocument> dead, string? code) =>
        code is null ? dead.FindAll() : dead.Find(Query.EQ("code", code));

    /// <summary>Inserts <paramref name="documents"/>, then drops the oldest while the dead letters are over their share.</summary>
    public Totals Store(ILiteCollection<BsonDocument> dead, IReadOnlyList<BsonDocument> documents, Totals totals)
    {
        var (count, bytes, dropped) = (totals.Count, totals.Bytes, 0L);
        foreach (var document in documents)
        {
            dead.Insert(document);
            count++;
            bytes += BytesOf(document);
        }

        while ((count > options.MaxDeadLetters || bytes > options.MaxDeadLetterBytes) && Oldest(dead) is { } oldest)
        {
            (count, bytes) = Remove(dead, oldest, count, bytes);
            dropped++;
        }

        return new Totals(count, bytes, dropped);
    }

    /// <summary>Drops dead letters stored before <paramref name="cutoff"/>, oldest first.</summary>
    public static Totals Expire(ILiteCollection<BsonDocument> dead, DateTime cutoff, Totals totals)
    {
        var (count, bytes, dropped) = (totals.Count, totals.Bytes, 0L);

        // By id, the order they were stored in: the first one not yet due ends it (a clock step back only delays some).
        while (Oldest(dead) is { } oldest && oldest["deadLetteredUtc"].AsDateTime.ToUniversalTime() < cutoff)
        {
            (count, bytes) = Remove(dead, oldest, count, bytes);
            dropped++;
        }

        return new Totals(count, bytes, dropped);
    }

    /// <summary>Deletes one dead letter; returns the count and bytes without it.</summary>
    public static (long Count, long Bytes) Remove(ILiteCollection<BsonDocument> dead, BsonDocument letter, long count, long bytes)
    {
        dead.Delete(letter["_id"]);
        return (count - 1, bytes - BytesOf(letter));
    }

    /// <summary>What a dead letter counts against <see cref="BufferOptions.MaxDeadLetterBytes"/>: its record and its reason.</summary>
    public static long BytesOf(BsonDocument letter) => BufferDocuments.Bytes(letter) + (2L * letter["reason"].AsString.Length);

    /// <summary>The oldest dead letter, one at a time: each is read whole (a payload of up to megabytes), so none more than needed.</summary>
    private static BsonDocument? Oldest(ILiteCollection<BsonDocument> dead) => dead.Find(Query.All(), 0, 1).FirstOrDefault();
}
