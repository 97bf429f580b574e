using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// How the buffer lays its records out in LiteDB documents, on a real file: an inbox commit per document, rounds and
/// commits bigger than LiteDB's 16.6 MB document limit, and files the first release wrote.
/// </summary>
public sealed class BufferDocumentTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-documents-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenACommitOfLargeMessagesOverLiteDbsDocumentLimit_WhenAppended_ThenAllAreStoredInOrder()
    {
        var options = Options();
        var messages = Enumerable.Range(0, 80).Select(i => Message($"{i:D3}" + new string('w', 256 * 1024))).ToList();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append(messages);
        }

        using var reopened = new GatewayStore(options, clock);
        var stored = reopened.ReadInbox(1000);
        Assert.Equal(Enumerable.Range(0, 80).Select(i => $"{i:D3}"), stored.Select(m => Encoding.UTF8.GetString(m.Payload.Span[..3])));
        Assert.Equal(80, reopened.Stats().Inbox);
    }

    [Fact]
    public void GivenANormalizationRoundOverLiteDbsDocumentLimit_WhenCompleted_ThenEveryEntryIsInTheOutboxInOrder()
    {
        var options = Options();
        var entries = Enumerable.Range(0, 40).Select(i => new OutboxEntry($"bed-{i:D2}", new byte[600_000], clock.GetUtcNow().UtcDateTime)).ToList();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("x")]);
            store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), entries, []);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal(entries.Select(e => e.Key), reopened.ReadOutbox(1000).Select(e => e.Key));
        Assert.Equal((0L, 40L), (reopened.Stats().Inbox, reopened.Stats().Outbox));
    }

    [Fact]
    public void GivenPartOfACommitCompleted_WhenTheStoreIsReopened_ThenOnlyTheRestIsInTheInbox()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("1"), Message("2"), Message("3")]);
            var inbox = store.ReadInbox(10);
            store.CompleteNormalization([inbox[0].Id, inbox[2].Id], [], []);
            Assert.Equal(["2"], store.ReadInbox(10).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        }

        using var reopened = new GatewayStore(options, clock);
        var rest = Assert.Single(reopened.ReadInbox(10));
        Assert.Equal("2", Encoding.UTF8.GetString(rest.Payload.Span));
        reopened.CompleteNormalization([rest.Id], [], []);
        Assert.Equal(0, reopened.Stats().Inbox);
    }

    [Fact]
    public void GivenACommitPartlyEvictedWhileBeingNormalized_WhenTheRoundCompletes_ThenItsRestLeavesAndNewerMessagesStay()
    {
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 3, CapacityPolicy = CapacityPolicy.EvictOldest }, clock);
        store.Append([Message("1"), Message("2"), Message("3")]);
        var round = store.ReadInbox(10);

        store.Append([Message("4"), Message("5")]);
        store.CompleteNormalization(round.Select(m => m.Id).ToList(), [], []);

        Assert.Equal(["4", "5"], store.ReadInbox(10).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Equal(2, store.Stats().Inbox);
        Assert.Equal(2, store.Stats().Dropped[GatewayStore.DroppedForCapacity]);
    }

    [Fact]
    public void GivenAnInboxWrittenByTheFirstRelease_WhenTheStoreOpens_ThenItsMessagesAreCountedReadFirstAndCompleted()
    {
        var options = Options();
        using (var db = new LiteDatabase(options.Path))
        {
            // The first release kept one document per message.
            var inbox = db.GetCollection("inbox", BsonAutoId.Int64);
            foreach (var payload in new[] { "old-1", "old-2" })
            {
                inbox.Insert(new BsonDocument
                {
                    ["clientId"] = "monitor-1", ["topic"] = "ward/icu/monitor-1", ["payload"] = Encoding.UTF8.GetBytes(payload),
                    ["receivedUtc"] = clock.GetUtcNow().UtcDateTime, ["properties"] = new BsonDocument { ["schema"] = "v1" },
                });
            }
        }

        using var store = new GatewayStore(options, clock);
        Assert.Equal(2, store.Stats().Inbox);
        store.Append([Message("new")]);
        var messages = store.ReadInbox(10);

        Assert.Equal(["old-1", "old-2", "new"], messages.Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Equal("v1", messages[0].Properties["schema"]);
        Assert.Equal(3, messages.Select(m => m.Id).Distinct().Count());
        store.CompleteNormalization(messages.Select(m => m.Id).ToList(), [], []);
        Assert.Equal(0, store.Stats().Inbox);
    }

    private BufferOptions Options() => new() { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 10_000 };

    private InboxMessage Message(string payload) =>
        new("monitor-1", "ward/icu/monitor-1", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string> { ["schema"] = "v1" });
}
