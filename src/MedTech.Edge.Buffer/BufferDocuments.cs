using System.Buffers.Binary;
using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>How buffer records are stored as LiteDB documents (field names are the file format: change with care).</summary>
internal static class BufferDocuments
{
    public static BsonDocument ToDocument(InboxMessage message)
    {
        var properties = new BsonDocument();
        foreach (var (key, value) in message.Properties)
        {
            properties[key] = value;
        }

        return new BsonDocument
        {
            ["clientId"] = message.ClientId,
            ["topic"] = message.Topic,
            ["payload"] = message.Payload.ToArray(),
            ["receivedUtc"] = message.ReceivedUtc,
            ["properties"] = properties,
        };
    }

    public static InboxMessage ToInboxMessage(BsonDocument document) => new(
        document["clientId"].AsString,
        document["topic"].AsString,
        document["payload"].AsBinary,
        DateTime.SpecifyKind(document["receivedUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc),
        document["properties"].AsDocument.ToDictionary(p => p.Key, p => p.Value.AsString))
    {
        Id = document["_id"].AsInt64,
    };

    /// <summary>
    /// One outbox document per normalization round: its entries travel and are deleted together. They are one binary
    /// field (each entry: key length, key, payload length, payload; lengths as little-endian int32), not a BSON array:
    /// LiteDB reads and frees a blob at memory speed, where an array of sub-documents costs it per entry.
    /// </summary>
    public static BsonDocument ToOutboxBatch(IReadOnlyList<OutboxEntry> entries)
    {
        var data = new byte[entries.Sum(e => 8 + Encoding.UTF8.GetByteCount(e.Key) + e.Payload.Length)];
        var at = 0;
        foreach (var entry in entries)
        {
            var keyLength = Encoding.UTF8.GetBytes(entry.Key, data.AsSpan(at + 4));
            BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), keyLength);
            at += 4 + keyLength;
            BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(at), entry.Payload.Length);
            entry.Payload.Span.CopyTo(data.AsSpan(at + 4));
            at += 4 + entry.Payload.Length;
        }

        return new BsonDocument { ["createdUtc"] = entries[0].CreatedUtc, ["count"] = entries.Count, ["data"] = data };
    }

    public static IEnumerable<OutboxEntry> ToOutboxEntries(BsonDocument document)
    {
        var id = document["_id"].AsInt64;
        var created = DateTime.SpecifyKind(document["createdUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc);
        if (document.TryGetValue("entries", out var entries))
        {
            // Written by the first release, as a BSON array.
            return entries.AsArray.Select(e => new OutboxEntry(e["key"].AsString, e["payload"].AsBinary, created) { Id = id });
        }

        var data = document["data"].AsBinary;
        var result = new List<OutboxEntry>(document["count"].AsInt32);
        for (var at = 0; at < data.Length;)
        {
            var keyLength = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at));
            var key = Encoding.UTF8.GetString(data, at + 4, keyLength);
            at += 4 + keyLength;
            var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at));
            result.Add(new OutboxEntry(key, new ReadOnlyMemory<byte>(data, at + 4, payloadLength), created) { Id = id });
            at += 4 + payloadLength;
        }

        return result;
    }

    /// <summary>How many hub messages a buffer document holds: an outbox batch its entries, anything else one.</summary>
    public static long Units(BsonDocument document) =>
        document.TryGetValue("count", out var count) ? count.AsInt32
        : document.TryGetValue("entries", out var entries) ? entries.AsArray.Count
        : 1;

    public static BsonDocument ToDocument(DeadLetter deadLetter) => new()
    {
        ["message"] = ToDocument(deadLetter.Message),
        ["code"] = deadLetter.Code,
        ["reason"] = deadLetter.Reason,
        ["deadLetteredUtc"] = deadLetter.DeadLetteredUtc,
    };

    public static DeadLetter ToDeadLetter(BsonDocument document) => new(
        ToInboxMessage(WithId(document["message"].AsDocument, 0)),
        document["code"].AsString,
        document["reason"].AsString,
        DateTime.SpecifyKind(document["deadLetteredUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc))
    {
        Id = document["_id"].AsInt64,
    };

    private static BsonDocument WithId(BsonDocument document, long id)
    {
        document["_id"] = id;
        return document;
    }
}
