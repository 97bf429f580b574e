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

    public static BsonDocument ToDocument(OutboxEntry entry) => new()
    {
        ["key"] = entry.Key,
        ["payload"] = entry.Payload.ToArray(),
        ["createdUtc"] = entry.CreatedUtc,
    };

    public static OutboxEntry ToOutboxEntry(BsonDocument document) => new(
        document["key"].AsString,
        document["payload"].AsBinary,
        DateTime.SpecifyKind(document["createdUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc))
    {
        Id = document["_id"].AsInt64,
    };

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
