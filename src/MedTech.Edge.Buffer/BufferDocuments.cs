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

    /// <summary>One outbox document per normalization round: its entries travel and are deleted together.</summary>
    public static BsonDocument ToOutboxBatch(IReadOnlyList<OutboxEntry> entries) => new()
    {
        ["createdUtc"] = entries[0].CreatedUtc,
        ["entries"] = new BsonArray(entries.Select(e => new BsonDocument { ["key"] = e.Key, ["payload"] = e.Payload.ToArray() })),
    };

    public static IEnumerable<OutboxEntry> ToOutboxEntries(BsonDocument document)
    {
        var id = document["_id"].AsInt64;
        var created = DateTime.SpecifyKind(document["createdUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc);
        return document["entries"].AsArray.Select(e => new OutboxEntry(e["key"].AsString, e["payload"].AsBinary, created) { Id = id });
    }

    /// <summary>How many hub messages a buffer document holds: an outbox batch its entries, anything else one.</summary>
    public static long Units(BsonDocument document) => document.TryGetValue("entries", out var entries) ? entries.AsArray.Count : 1;

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
