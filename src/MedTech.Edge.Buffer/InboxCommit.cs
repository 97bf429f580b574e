using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>
/// A commit as the inbox index keeps it, read from its document's own fields (as at start-up): its first and last
/// message id, how many it holds, its oldest and newest receive time, its bytes, and its messages and bytes by client
/// id (<see cref="SenderLedger"/>).
/// </summary>
internal readonly record struct InboxCommit(long FirstId, long LastId, int Units, DateTime OldestUtc, DateTime NewestUtc, long Bytes, SenderShare[] Senders)
{
    /// <summary>Its ids have no gaps (only a completion of part of a commit leaves some).</summary>
    public bool Contiguous => LastId - FirstId + 1 == Units;

    /// <summary>From the document alone (start-up, a rewrite); reads its messages for the client ids.</summary>
    public static InboxCommit Of(BsonDocument document) => Of(document, BufferDocuments.ToInboxMessages(document).Select(m => (m, BufferDocuments.Size(m))));

    /// <summary>From the document and the messages it was written from (with their sizes), without reading it back.</summary>
    public static InboxCommit Of(BsonDocument document, IEnumerable<(InboxMessage Message, long Size)> messages)
    {
        var senders = SenderShare.Of(messages);
        if (!document.TryGetValue("data", out _))
        {
            // One message, as the first release stored it.
            var id = document["_id"].AsInt64;
            var received = document["receivedUtc"].AsDateTime.ToUniversalTime();
            var bytes = BufferDocuments.Bytes(document);
            return new(id, id, 1, received, received, bytes, [.. senders.Select(s => s with { Bytes = bytes })]);
        }

        return new(document["firstId"].AsInt64, document["lastId"].AsInt64, document["count"].AsInt32,
            document["receivedUtc"].AsDateTime.ToUniversalTime(), document["lastReceivedUtc"].AsDateTime.ToUniversalTime(),
            BufferDocuments.Bytes(document), senders);
    }
}

/// <summary>What a transaction did to one inbox commit: gone (<paramref name="Remaining"/> null) or rewritten with fewer messages.</summary>
internal readonly record struct InboxChange(long Id, InboxCommit? Remaining);
