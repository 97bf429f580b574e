using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer;

/// <summary>How buffer records are stored as LiteDB documents (field names are the file format: change with care).</summary>
internal static class BufferDocuments
{
    /// <summary>
    /// The largest buffer document written: LiteDB refuses documents over about 16.6 MB, so a commit or a normalization
    /// round bigger than this (large waveform messages) is stored as several documents.
    /// </summary>
    public const int MaxDocumentBytes = 4 << 20;

    /// <summary>
    /// The largest message record stored (<see cref="Size(InboxMessage)"/>): within LiteDB's document limit with room
    /// for a dead letter's reason. The payload is at most 8 MiB (Mqtt:MaxMessageBytes); what is over this is strings.
    /// </summary>
    public const int MaxRecordBytes = 12 << 20;

    /// <summary>Payload bytes an <see cref="Oversized"/> dead letter keeps.</summary>
    private const int OversizedKeeps = 4096;

    /// <summary>
    /// What is kept of a message over <see cref="MaxRecordBytes"/>: client id and topic bounded, its first payload
    /// bytes, and in the reason its size, property count and payload hash (no device value).
    /// </summary>
    public static DeadLetter Oversized(InboxMessage message, long size, string code, DateTime now)
    {
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(message.Payload.Span));
        var kept = message with
        {
            ClientId = DeadLetter.Bound(message.ClientId, OversizedKeeps),
            Topic = DeadLetter.Bound(message.Topic, OversizedKeeps),
            Payload = message.Payload[..Math.Min(message.Payload.Length, OversizedKeeps)],
            Properties = new Dictionary<string, string>(),
        };
        return new DeadLetter(kept, code, string.Create(CultureInfo.InvariantCulture,
            $"The message takes {size} bytes as stored, over the buffer's {MaxRecordBytes}: {message.Payload.Length} payload bytes (SHA-256 {hash}; the first {kept.Payload.Length} kept), {message.Properties.Count} properties, client id {message.ClientId.Length} and topic {message.Topic.Length} characters."), now);
    }

    /// <summary>Consecutive runs of <paramref name="items"/> of at most <see cref="MaxDocumentBytes"/> each (one item at least).</summary>
    public static IEnumerable<List<T>> ChunkBySize<T>(IReadOnlyList<T> items, Func<T, long> bytes)
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

    /// <summary>The bytes an inbox message takes in an inbox commit or a dead letter (<see cref="WriteMessage"/>), exactly.</summary>
    public static long Size(InboxMessage message)
    {
        var size = 8 + BufferStrings.Size(message.ClientId) + BufferStrings.Size(message.Topic) + 8 + 1 + 4 + 4 + message.Payload.Length;
        foreach (var (key, value) in message.Properties)
        {
            size += BufferStrings.Size(key) + BufferStrings.Size(value);
        }

        return size;
    }

    /// <summary>
    /// The record format of inbox commits and dead letters written now: 3 adds a flags byte after the receive time
    /// (<see cref="AuthenticatedFlag"/>). Format 2 (<see cref="ExactStrings"/>) has no flags byte; documents without a
    /// format hold <see cref="BinaryWriter.Write(string)"/> strings.
    /// </summary>
    private const int RecordFormat = 3;

    /// <summary>The first record format whose strings round-trip exactly (<see cref="BufferStrings"/>).</summary>
    private const int ExactStrings = 2;

    /// <summary>Bit of the flags byte: <see cref="InboxMessage.Authenticated"/>.</summary>
    private const byte AuthenticatedFlag = 1;

    /// <summary>
    /// One inbox document per group commit (the messages stored together), their fields in one binary field: a commit
    /// costs LiteDB one insert instead of one per message (measured: ingest +40 %), and normalization deletes it whole.
    /// The times of its oldest and newest message and its first and last message id are fields of their own, for a
    /// start-up that builds the in-memory index. Messages keep their own ids.
    /// </summary>
    public static BsonDocument ToInboxCommit(IReadOnlyList<InboxMessage> messages, long? bytes = null)
    {
        using var data = new MemoryStream(checked((int)(bytes ?? messages.Sum(Size))));
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            foreach (var message in messages)
            {
                WriteMessage(writer, message);
            }
        }

        var document = new BsonDocument
        {
            ["receivedUtc"] = messages.Min(m => m.ReceivedUtc),
            ["lastReceivedUtc"] = messages.Max(m => m.ReceivedUtc),
            ["firstId"] = messages[0].Id,
            ["lastId"] = messages[^1].Id,
            ["count"] = messages.Count,
            ["v"] = RecordFormat,
            ["data"] = data.ToArray(),
        };
        AddTraces(document, messages, m => m.TraceParent);
        return document;
    }

    /// <summary>
    /// The field of the records' W3C <c>traceparent</c>s, one per record in order (null where none), beside the binary
    /// field rather than in it: written only while spans are recorded, ignored by a release that does not know it, and
    /// absent from documents written before, which read as records without one.
    /// </summary>
    private const string TracesField = "traces";

    private static void AddTraces<T>(BsonDocument document, IReadOnlyList<T> records, Func<T, string?> traceParent)
    {
        if (records.Any(r => traceParent(r) is not null))
        {
            document[TracesField] = new BsonArray(records.Select(r => traceParent(r) is { } t ? new BsonValue(t) : BsonValue.Null));
        }
    }

    /// <summary>The <c>traceparent</c>s of a document's records (see <see cref="AddTraces"/>); null when it has none, or not one per record.</summary>
    private static BsonArray? Traces(BsonDocument document, int records) =>
        document.TryGetValue(TracesField, out var traces) && traces.IsArray && traces.AsArray.Count == records ? traces.AsArray : null;

    private static string? TraceAt(BsonArray? traces, int index) => traces is not null && traces[index].IsString ? traces[index].AsString : null;

    /// <summary>The messages of an inbox document: a commit, or one message as the first release stored it.</summary>
    public static List<InboxMessage> ToInboxMessages(BsonDocument document)
    {
        if (!document.TryGetValue("data", out var field))
        {
            return [ToInboxMessage(document)];
        }

        var data = field.AsBinary;
        var format = Format(document);
        var messages = new List<InboxMessage>(document["count"].AsInt32);
        using var reader = new BinaryReader(new MemoryStream(data, writable: false), Encoding.UTF8);
        while (reader.BaseStream.Position < data.Length)
        {
            messages.Add(ReadMessage(reader, data, format));
        }

        if (Traces(document, messages.Count) is { } traces)
        {
            for (var i = 0; i < messages.Count; i++)
            {
                // A copy only for a traced record: with sampling, most records of a document with traces have none.
                if (TraceAt(traces, i) is { } trace)
                {
                    messages[i] = messages[i] with { TraceParent = trace };
                }
            }
        }

        return messages;
    }

    /// <summary>One message of a binary record: id, client id, topic, receive time, flags, properties, payload.</summary>
    private static void WriteMessage(BinaryWriter writer, InboxMessage message)
    {
        writer.Write(message.Id);
        BufferStrings.Write(writer, message.ClientId);
        BufferStrings.Write(writer, message.Topic);
        writer.Write(message.ReceivedUtc.Ticks);
        writer.Write(message.Authenticated ? AuthenticatedFlag : (byte)0);
        writer.Write(message.Properties.Count);
        foreach (var (key, value) in message.Properties)
        {
            BufferStrings.Write(writer, key);
            BufferStrings.Write(writer, value);
        }

        writer.Write(message.Payload.Length);
        writer.Write(message.Payload.Span);
    }

    /// <summary>Reads what <see cref="WriteMessage"/> wrote; the payload is a slice of <paramref name="data"/>, not a copy.</summary>
    private static InboxMessage ReadMessage(BinaryReader reader, byte[] data, int format)
    {
        var read = format >= ExactStrings ? (Func<BinaryReader, string>)BufferStrings.Read : static r => r.ReadString();
        var id = reader.ReadInt64();
        var clientId = read(reader);
        var topic = read(reader);
        var received = new DateTime(reader.ReadInt64(), DateTimeKind.Utc);
        var flags = format >= RecordFormat ? reader.ReadByte() : 0;
        var count = reader.ReadInt32();

        // Ordinal: property names that differ only in case are different properties (MQTT compares bytes).
        var properties = new Dictionary<string, string>(Math.Min(count, 1024), StringComparer.Ordinal);
        for (; count > 0; count--)
        {
            properties[read(reader)] = read(reader);
        }

        var length = reader.ReadInt32();
        var payload = new ReadOnlyMemory<byte>(data, (int)reader.BaseStream.Position, length);
        reader.BaseStream.Position += length;
        return new InboxMessage(clientId, topic, payload, received, properties) { Id = id, Authenticated = (flags & AuthenticatedFlag) != 0 };
    }

    /// <summary>The record format of an inbox commit or dead letter (0 for the first release's).</summary>
    private static int Format(BsonDocument document) => document.TryGetValue("v", out var format) ? format.AsInt32 : 0;

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
    public static BsonDocument ToOutboxBatch(IReadOnlyList<OutboxEntry> entries, long deviceMessages)
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

        var document = new BsonDocument { ["createdUtc"] = entries[0].CreatedUtc, ["count"] = entries.Count, ["messages"] = deviceMessages, ["data"] = data };
        AddTraces(document, entries, e => e.TraceParent);
        return document;
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

        var read = ReadEntries(document["data"].AsBinary, id, created, document["count"].AsInt32);
        if (Traces(document, read.Count) is { } traces)
        {
            for (var i = 0; i < read.Count; i++)
            {
                // A copy only for a traced record: with sampling, most records of a document with traces have none.
                if (TraceAt(traces, i) is { } trace)
                {
                    read[i] = read[i] with { TraceParent = trace };
                }
            }
        }

        return read;
    }

    /// <summary>The entries of an outbox batch's binary field (or a group dead letter's, which holds one).</summary>
    private static List<OutboxEntry> ReadEntries(byte[] data, long id, DateTime created, int count)
    {
        var result = new List<OutboxEntry>(count);
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

    /// <summary>
    /// How many device messages an outbox batch came from (what <see cref="BufferOptions.MaxMessages"/> counts).
    /// Batches written before this was kept count one per entry, as the limit counted them then.
    /// </summary>
    public static long DeviceMessages(BsonDocument batch) => batch.TryGetValue("messages", out var messages) ? messages.AsInt64 : Units(batch);

    /// <summary>
    /// The bytes a buffer document's records take: its binary field (the first release's documents: payloads and strings,
    /// about), and the <c>traceparent</c>s stored beside them, which can double a small reading's size when tracing is on.
    /// </summary>
    public static long Bytes(BsonDocument document) => RecordBytes(document) +
        (document.TryGetValue(TracesField, out var traces) && traces.IsArray ? traces.AsArray.Sum(t => t.IsString ? t.AsString.Length : 0L) : 0);

    private static long RecordBytes(BsonDocument document)
    {
        if (document.TryGetValue("data", out var data))
        {
            return data.AsBinary.Length;
        }

        if (document.TryGetValue("entries", out var entries))
        {
            return entries.AsArray.Sum(e => 8L + (3 * e["key"].AsString.Length) + e["payload"].AsBinary.Length);
        }

        var message = document.TryGetValue("message", out var inner) ? inner.AsDocument : document;
        return message["payload"].AsBinary.Length + (3L * (message["clientId"].AsString.Length + message["topic"].AsString.Length));
    }

    /// <summary>
    /// A dead letter: its message as one binary record (<see cref="WriteMessage"/>: any property name, NUL and case
    /// included, which a BSON sub-document cannot hold) beside its code, bounded reason and time.
    /// </summary>
    public static BsonDocument ToDocument(DeadLetter deadLetter)
    {
        using var data = new MemoryStream(checked((int)Size(deadLetter.Message)));
        using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
        {
            WriteMessage(writer, deadLetter.Message);
        }

        return new BsonDocument
        {
            ["code"] = Storable(deadLetter.Code, DeadLetter.MaxCodeLength),
            ["reason"] = Storable(deadLetter.Reason, DeadLetter.MaxReasonLength),
            ["deadLetteredUtc"] = deadLetter.DeadLetteredUtc,
            ["v"] = RecordFormat,
            ["data"] = data.ToArray(),
        };
    }

    /// <summary>
    /// Text for a BSON string field: bounded, and well-formed, since LiteDB encodes strings as strict UTF-8 and throws on
    /// an unpaired surrogate (a reason may quote a device's value); those become U+FFFD. The message itself is exact.
    /// </summary>
    private static string Storable(string text, int max)
    {
        var bounded = DeadLetter.Bound(text, max);
        return BufferStrings.IsWellFormed(bounded) ? bounded : Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(bounded));
    }

    /// <summary>A dead letter as stored now, or as earlier releases stored it (the message as a BSON sub-document).</summary>
    public static DeadLetter ToDeadLetter(BsonDocument document)
    {
        InboxMessage message;
        if (document.TryGetValue("data", out var field))
        {
            var data = field.AsBinary;
            using var reader = new BinaryReader(new MemoryStream(data, writable: false), Encoding.UTF8);
            message = ReadMessage(reader, data, Format(document));
        }
        else
        {
            var old = document["message"].AsDocument;
            old["_id"] = 0L;
            message = ToInboxMessage(old);
        }

        return new DeadLetter(message, document["code"].AsString, document["reason"].AsString,
            DateTime.SpecifyKind(document["deadLetteredUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc))
        {
            Id = document["_id"].AsInt64,
        };
    }

    /// <summary>The <c>kind</c> of a dead letter that holds a measurement group; a device message's has none.</summary>
    private const string GroupKind = "group";

    /// <summary>
    /// The topic under which releases before <see cref="GroupDeadLetter"/> stored a group as a device message (key in
    /// the client id); such a dead letter in a file upgraded in place is read as a group.
    /// </summary>
    internal const string LegacyGroupTopic = "$medtech/fhir-writer";

    /// <summary>A group dead letter: its key and payload as one outbox entry (<see cref="ToOutboxBatch"/>'s binary field) beside its code, bounded reason and time.</summary>
    public static BsonDocument ToDocument(GroupDeadLetter deadLetter) => new()
    {
        ["kind"] = GroupKind,
        ["code"] = Storable(deadLetter.Code, DeadLetter.MaxCodeLength),
        ["reason"] = Storable(deadLetter.Reason, DeadLetter.MaxReasonLength),
        ["deadLetteredUtc"] = deadLetter.DeadLetteredUtc,
        ["data"] = ToOutboxBatch([new OutboxEntry(deadLetter.Key, deadLetter.Payload, deadLetter.DeadLetteredUtc)], 1)["data"],
    };

    /// <summary>A dead letter read whole: a group (as stored now, or as a device message with the legacy topic) or a device message.</summary>
    public static (DeadLetter? Message, GroupDeadLetter? Group) ToAnyDeadLetter(BsonDocument document)
    {
        var code = document["code"].AsString;
        var reason = document["reason"].AsString;
        var id = document["_id"].AsInt64;
        var at = DateTime.SpecifyKind(document["deadLetteredUtc"].AsDateTime.ToUniversalTime(), DateTimeKind.Utc);
        if (document.TryGetValue("kind", out var kind) && kind.IsString && kind.AsString == GroupKind)
        {
            var entry = ReadEntries(document["data"].AsBinary, id, at, 1).Single();
            return (null, new GroupDeadLetter(entry.Key, entry.Payload, code, reason, at) { Id = id });
        }

        var letter = ToDeadLetter(document);
        return letter.Message.Topic == LegacyGroupTopic
            ? (null, new GroupDeadLetter(letter.Message.ClientId, letter.Message.Payload, code, reason, at) { Id = id })
            : (letter, null);
    }
}
