using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// What a hostile device can send, through the real LiteDB file: huge ids and topics, thousands of properties, names
/// LiteDB gives meaning to, NUL, case variants, unpaired surrogates, empty and maximum payloads; each read back byte
/// for byte after the file is reopened, from the inbox and from the dead letters, and the counters balance.
/// </summary>
public sealed class HostileStorageTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    public static TheoryData<string> Cases => ["900 KB client id", "900 KB topic", "900 KB property", "10,000 properties", "special names", "empty payload", "unpaired surrogates"];

    [Theory]
    [MemberData(nameof(Cases))]
    public void GivenAHostileMessage_WhenStoredThenDeadLetteredWithReopens_ThenItComesBackByteForByteAndTheCountersBalance(string name)
    {
        var message = Hostile(name);
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([message]);
        }

        InboxMessage stored;
        using (var store = new GatewayStore(options, clock))
        {
            stored = Assert.Single(store.ReadInbox(10));
            Exactly.Equal(message, stored, name);
            store.CompleteNormalization([stored.Id], [], [new DeadLetter(stored, "InvalidDataFormatException", "Not JSON.", clock.GetUtcNow().UtcDateTime)]);
        }

        using var reopened = new GatewayStore(options, clock);
        Exactly.Equal(message, Assert.Single(reopened.ListDeadLetters()).Message, name);
        Assert.Equal((0L, 1L, 1L, 0L), (reopened.Stats().Inbox, reopened.Stats().DeadLetters, reopened.Stats().DeadLettered, reopened.Stats().Unaccounted));

        // Back through the inbox once more: replay keeps it exact too.
        Assert.Equal(1, reopened.ReplayDeadLetters());
        Exactly.Equal(message, Assert.Single(reopened.ReadInbox(10)), name);
        Assert.Equal((1L, 0L), (reopened.Stats().Replayed, reopened.Stats().Unaccounted));
    }

    [Fact]
    public void GivenAMaximumPayloadWithAHugeReasonAndCode_WhenDeadLettered_ThenThePayloadIsKeptWholeAndTheTextBounded()
    {
        var payload = new byte[8 << 20];
        new Random(7).NextBytes(payload);
        var message = new InboxMessage("monitor-1", "devices/monitor-1/vitals", payload, clock.GetUtcNow().UtcDateTime, new Dictionary<string, string> { ["\0"] = "x" });
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([message]);
            var stored = Assert.Single(store.ReadInbox(10));
            var reason = string.Concat(Enumerable.Repeat("Unable to extract required value for [hr] \uD800\0 | ", 250_000));
            store.CompleteNormalization([stored.Id], [], [new DeadLetter(stored, "Poison" + new string('\uD801', 1_000_000), reason, clock.GetUtcNow().UtcDateTime)]);
        }

        using var reopened = new GatewayStore(options, clock);
        var letter = Assert.Single(reopened.ListDeadLetters());
        Assert.True(letter.Message.Payload.Span.SequenceEqual(payload));
        Assert.InRange(letter.Reason.Length, 1, DeadLetter.MaxReasonLength);
        Assert.InRange(letter.Code.Length, 1, DeadLetter.MaxCodeLength);
        Assert.StartsWith("Unable to extract required value for [hr] \uFFFD\0", letter.Reason, StringComparison.Ordinal);
        Assert.StartsWith("Poison\uFFFD", letter.Code, StringComparison.Ordinal);
        Assert.Single(reopened.ListDeadLetters(letter.Code));
        Assert.Equal(0, reopened.Stats().Unaccounted);
    }

    [Fact]
    public void GivenAMessageTooLargeForARecord_WhenCommittedWithOthers_ThenTheOthersAreStoredAndItIsADeadLetterThatSaysWhat()
    {
        var payload = new byte[10_000];
        new Random(3).NextBytes(payload);
        var huge = new InboxMessage("monitor-2", "devices/monitor-2/v", payload, clock.GetUtcNow().UtcDateTime,
            Enumerable.Range(0, 14).ToDictionary(i => $"p{i}", i => new string('\0', 1_000_000)));
        var good = new InboxMessage("monitor-1", "devices/monitor-1/v", "{}"u8.ToArray(), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            Assert.Equal(2, store.Append([huge, good]).Distinct().Count());
        }

        using var reopened = new GatewayStore(options, clock);
        Exactly.Equal(good, Assert.Single(reopened.ReadInbox(10)), "the good message");
        var letter = Assert.Single(reopened.ListDeadLetters());
        Assert.Equal(GatewayStore.DeviceMessageTooLarge, letter.Code);
        Assert.True(letter.Message.Payload.Span.SequenceEqual(payload.AsSpan(0, 4096)));
        Assert.Contains(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(payload)), letter.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("\0", letter.Reason, StringComparison.Ordinal);
        Assert.Equal((2L, 1L, 0L), (reopened.Stats().Committed, reopened.Stats().DeadLettered, reopened.Stats().Unaccounted));
    }

    [Fact]
    public void GivenADeadLetterCodeWithNul_WhenListedByThatCode_ThenItIsFound()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Hostile("special names")]);
        var stored = Assert.Single(store.ReadInbox(10));
        store.CompleteNormalization([stored.Id], [], [new DeadLetter(stored, "Bad\0Code", "reason\0with NUL", clock.GetUtcNow().UtcDateTime)]);

        var letter = Assert.Single(store.ListDeadLetters("Bad\0Code"));
        Assert.Equal("reason\0with NUL", letter.Reason);
    }

    [Fact]
    public void GivenADeadLetterAsEarlierReleasesStoredIt_WhenListedAndReplayed_ThenItIsReadAndCounted()
    {
        var options = Options();
        using (var db = new LiteDatabase(options.Path))
        {
            // Earlier releases kept the message as a BSON sub-document.
            db.GetCollection("deadletters", BsonAutoId.Int64).Insert(new BsonDocument
            {
                ["message"] = new BsonDocument
                {
                    ["clientId"] = "monitor-1", ["topic"] = "devices/monitor-1/vitals", ["payload"] = "not json"u8.ToArray(),
                    ["receivedUtc"] = clock.GetUtcNow().UtcDateTime, ["properties"] = new BsonDocument { ["schema"] = "v1" },
                },
                ["code"] = "InvalidDataFormatException",
                ["reason"] = "Not JSON.",
                ["deadLetteredUtc"] = clock.GetUtcNow().UtcDateTime,
            });
        }

        using var store = new GatewayStore(options, clock);
        var letter = Assert.Single(store.ListDeadLetters());
        Assert.Equal(("monitor-1", "v1", "not json"), (letter.Message.ClientId, letter.Message.Properties["schema"], Encoding.UTF8.GetString(letter.Message.Payload.Span)));
        Assert.True(store.Stats().DeadLetterBytes > 0);

        Assert.Equal(1, store.ReplayDeadLetters());
        Assert.Equal((1L, 0L, 0L, 0L), (store.Stats().Inbox, store.Stats().DeadLetters, store.Stats().DeadLetterBytes, store.Stats().Unaccounted));
    }

    private InboxMessage Hostile(string name)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var big = new string('é', 450_000);
        var properties = new Dictionary<string, string>(StringComparer.Ordinal) { ["schema"] = "v1" };
        return name switch
        {
            "900 KB client id" => new(big, "devices/x", "{}"u8.ToArray(), now, properties),
            "900 KB topic" => new("monitor-1", big, "{}"u8.ToArray(), now, properties),
            "900 KB property" => new("monitor-1", "devices/x", "{}"u8.ToArray(), now, new Dictionary<string, string> { [big] = big }),
            "10,000 properties" => new("monitor-1", "devices/x", "{}"u8.ToArray(), now,
                Enumerable.Range(0, 10_000).ToDictionary(i => $"p{i}", i => new string('v', i % 50))),
            "special names" => new("monitor-1", "devices/x", "{}"u8.ToArray(), now, new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [""] = "empty", ["_id"] = "id", ["$"] = "dollar", ["$type"] = "t", ["a.b"] = "dot", ["\0"] = "nul", ["n\0ul"] = "\0",
                ["Foo"] = "upper", ["foo"] = "lower", ["FOO"] = "all upper",
            }),
            "empty payload" => new("", "", Array.Empty<byte>(), now, new Dictionary<string, string>()),
            "unpaired surrogates" => new("\uD800monitor", "devices/\uDC00/x\uD83D", "{}"u8.ToArray(), now, new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["\uDBFF"] = "\uDFFF\uD800", ["😀"] = "\uD83D", ["\uDE00\uD83D"] = "",
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
    }

    private BufferOptions Options() => new() { Path = Path.Combine(folder, "gateway.db") };
}
