using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// The inbox by sender (what the broker's per-device share reads) and the authenticated flag of each record, on a real
/// LiteDB file: right after every way a message leaves the inbox, and after a reopen, which rebuilds it from the file.
/// </summary>
public sealed class InboxBySenderTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-senders-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenMessagesOfTwoSenders_WhenPartCompletesAndTheStoreReopens_ThenEachSendersHeldCountIsRightThroughout()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("monitor-1", "a"), Message("monitor-2", "bb"), Message("monitor-1", "ccc")]);
            store.Append([Message("monitor-1", "d")]);
            Assert.Equal(3, store.HeldBy("monitor-1").Messages);
            Assert.Equal(1, store.HeldBy("monitor-2").Messages);
            Assert.Equal(store.Stats().UnsentBytes, store.HeldBy("monitor-1").Bytes + store.HeldBy("monitor-2").Bytes);

            // Part of a commit: the rewritten commit keeps the others' counts.
            var first = store.ReadInbox(10).First(m => m.ClientId == "monitor-1");
            store.CompleteNormalization([first.Id], [], []);
            Assert.Equal((2L, 1L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((2L, 1L), (reopened.HeldBy("monitor-1").Messages, reopened.HeldBy("monitor-2").Messages));
        Assert.Equal(reopened.Stats().UnsentBytes, reopened.HeldBy("monitor-1").Bytes + reopened.HeldBy("monitor-2").Bytes);
        reopened.CompleteNormalization(reopened.ReadInbox(10).Select(m => m.Id).ToList(), [], []);
        Assert.Equal((0L, 0L), reopened.HeldBy("monitor-1"));
        Assert.Equal((0L, 0L), reopened.HeldBy("never-seen"));
    }

    [Fact]
    public void GivenMessagesDeadLetteredEvictedOrExpired_ThenTheyLeaveTheirSendersCountAndAReplayAddsThemBack()
    {
        using var store = new GatewayStore(Options(maxMessages: 3, policy: CapacityPolicy.EvictOldest), clock);
        store.Append([Message("monitor-1", "1"), Message("monitor-1", "2"), Message("monitor-2", "3")]);

        store.Append([Message("monitor-2", "4")]);
        Assert.Equal((1L, 2L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));

        var one = store.ReadInbox(10).First(m => m.ClientId == "monitor-1");
        store.CompleteNormalization([one.Id], [], [new DeadLetter(one, "Test", "test", clock.GetUtcNow().UtcDateTime)]);
        Assert.Equal(0, store.HeldBy("monitor-1").Messages);
        store.ReplayDeadLetters();
        Assert.Equal(1, store.HeldBy("monitor-1").Messages);

        clock.Advance(TimeSpan.FromDays(8));
        store.ExpireOld();
        Assert.Equal((0L, 0L, 0L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages, store.Stats().Unaccounted));
    }

    [Fact]
    public void GivenAnAuthenticatedAndAnAnonymousMessage_WhenStoredReopenedDeadLetteredAndReplayed_ThenEachKeepsItsFlag()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("monitor-1", "signed-in") with { Authenticated = true }, Message("guest", "anonymous")]);
        }

        using var reopened = new GatewayStore(options, clock);
        var inbox = reopened.ReadInbox(10);
        Assert.Equal([true, false], inbox.Select(m => m.Authenticated));
        reopened.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [], inbox.Select(m => new DeadLetter(m, "Test", "test", clock.GetUtcNow().UtcDateTime)).ToList());
        Assert.Equal([("guest", false), ("monitor-1", true)], reopened.ListDeadLetters().Select(d => (d.Message.ClientId, d.Message.Authenticated)).OrderBy(d => d.ClientId, StringComparer.Ordinal));
        reopened.ReplayDeadLetters();
        Assert.Equal(["monitor-1"], reopened.ReadInbox(10).Where(m => m.Authenticated).Select(m => m.ClientId));
    }

    [Fact]
    public void GivenAnInboxCommitOfTheFormatBeforeTheFlag_WhenTheStoreOpens_ThenItsMessagesReadUnboundAndCountForTheirSender()
    {
        var options = Options();
        using (var db = new LiteDatabase(options.Path))
        {
            // Format 2: exact strings, no flags byte between the receive time and the properties.
            using var data = new MemoryStream();
            using (var writer = new BinaryWriter(data, Encoding.UTF8, leaveOpen: true))
            {
                foreach (var (id, payload) in new[] { (1L, "old-1"), (2L, "old-2") })
                {
                    writer.Write(id);
                    BufferStrings.Write(writer, "monitor-1");
                    BufferStrings.Write(writer, "ward/icu/monitor-1");
                    writer.Write(clock.GetUtcNow().UtcDateTime.Ticks);
                    writer.Write(1);
                    BufferStrings.Write(writer, "schema");
                    BufferStrings.Write(writer, "v1");
                    writer.Write(payload.Length);
                    writer.Write(Encoding.UTF8.GetBytes(payload));
                }
            }

            db.GetCollection("inbox", BsonAutoId.Int64).Insert(1L, new BsonDocument
            {
                ["receivedUtc"] = clock.GetUtcNow().UtcDateTime, ["lastReceivedUtc"] = clock.GetUtcNow().UtcDateTime,
                ["firstId"] = 1L, ["lastId"] = 2L, ["count"] = 2, ["v"] = 2, ["data"] = data.ToArray(),
            });
        }

        using var store = new GatewayStore(options, clock);
        var messages = store.ReadInbox(10);

        Assert.Equal(["old-1", "old-2"], messages.Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.All(messages, m => Assert.False(m.Authenticated));
        Assert.Equal("v1", messages[1].Properties["schema"]);
        Assert.Equal(2, store.HeldBy("monitor-1").Messages);
    }

    private BufferOptions Options(long maxMessages = 10_000, CapacityPolicy policy = CapacityPolicy.StopAccepting) =>
        new() { Path = Path.Combine(folder, "gateway.db"), MaxMessages = maxMessages, CapacityPolicy = policy };

    private InboxMessage Message(string clientId, string payload) =>
        new(clientId, $"ward/icu/{clientId}", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string> { ["schema"] = "v1" });
}
