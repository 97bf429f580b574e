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

    /// <summary>
    /// The largest buffer document written: LiteDB refuses documents over about 16.6 MB, so a commit or a normalization
    /// round bigger than this (large waveform messages) is stored as several documents.
    /// </summary>
    public const int MaxDocumentBytes = 4 << 20;

    /// <summary>Consecutive runs of <paramref name="items"/> of at most <see cref="MaxDocumentBytes"/> each (one item at least).</summary>
    public static IEnumerable<List<T>> ChunkBySize<T>(IReadOnlyList<T> items, Func<T, int> bytes)
    {
        var chunk = new List<T>();
        long size = 0;
        foreach (var item in items)
        {
            if (chunk.Count > 0 && size + bytes(item) > MaxDocumentBytes)
            {
                yield return chunk;
                chunk = [];
                size = 0;
            }

            chunk.Add(item);
            size += bytes(item);
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }

    /// <summary>What an inbox message takes in an inbox commit, about (payload and its strings).</summary>
    public static int Size(InboxMessage message) => message.Payload.Length + 32 + 3 * (message.ClientId.Length + message.Topic.Length)
        + message.Properties.Sum(p => 10 + 3 * (p.Key.Length + p.Value.Length));

    /// <summary>
    /// One inbox document per group commit (the messages stored together), their fields in one binary field: a commit
    /// costs LiteDB one insert instead of one per message (measured: ingest +40 %), and normalization deletes it whole.
    /// The times of its oldest and newest message and its first and last message id are fields of their own, for a
    /// start-up that builds the in-memory index. Messages keep their own ids.
    /// </summary>
    public static BsonDocument ToInboxCommit(IReadOnlyList<InboxMessage> messages)
    {
        using var data = new MemoryStream(messages.Sum(Size));
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            foreach (var message in messages)
            {
                writer.Write(message.Id);
                writer.Write(message.ClientId);
                writer.Write(message.Topic);
                writer.Write(message.ReceivedUtc.Ticks);
                writer.Write(message.Properties.Count);
                foreach (var (key, value) in message.Properties)
                {
                    writer.Write(key);
                    writer.Write(value);
                }

                writer.Write(message.Payload.Length);
                writer.Write(message.Payload.Span);
            }
        }

        return new BsonDocument
        {
            ["receivedUtc"] = messages.Min(m => m.ReceivedUtc),
            ["lastReceivedUtc"] = messages.Max(m => m.ReceivedUtc),
            ["firstId"] = messages[0].Id,
            ["lastId"] = messages[^1].Id,
            ["count"] = messages.Count,
            ["data"] = data.ToArray(),
        };
    }

    /// <summary>The messages of an inbox document: a commit, or one message as the first release stored it.</summary>
    public static List<InboxMessage> ToInboxMessages(BsonDocument document)
    {
        if (!document.TryGetValue("data", out var field))
        {
            return [ToInboxMessage(document)];
        }

        var data = field.AsBinary;
        var messages = new List<InboxMessage>(document["count"].AsInt32);
        using var reader = new BinaryReader(new MemoryStream(data, writable: false), Encoding.UTF8);
        while (reader.BaseStream.Position < data.Length)
        {
            var id = reader.ReadInt64();
            var clientId = reader.ReadString();
            var topic = reader.ReadString();
            var received = new DateTime(reader.ReadInt64(), DateTimeKind.Utc);
            var properties = new Dictionary<string, string>();
            for (var count = reader.ReadInt32(); count > 0; count--)
            {
                properties[reader.ReadString()] = reader.ReadString();
            }

            var length = reader.ReadInt32();
            var payload = new ReadOnlyMemory<byte>(data, (int)reader.BaseStream.Position, length);
            reader.BaseStream.Position += length;
            messages.Add(new InboxMessage(clientId, topic, payload, received, properties) { Id = id });
        }

        return messages;
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
