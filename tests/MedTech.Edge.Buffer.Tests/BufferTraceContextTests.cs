using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// The W3C <c>traceparent</c> of an inbox message and of an outbox entry survives the buffer file and a restart, on a
/// real LiteDB file; a file without it (older releases, or tracing off) reads as untraced, and so does a damaged one.
/// </summary>
public sealed class BufferTraceContextTests : IDisposable
{
    private const string TraceA = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    private const string TraceB = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-traces-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenInboxMessagesWithAndWithoutATraceParent_WhenTheStoreIsReopened_ThenEachHasItsOwnAndAPartialCompletionKeepsTheRest()
    {
        using (var store = Open())
        {
            store.Append([Message("1") with { TraceParent = TraceA }, Message("2"), Message("3") with { TraceParent = TraceB }]);
        }

        using (var reopened = Open())
        {
            var inbox = reopened.ReadInbox(10);
            Assert.Equal([TraceA, null, TraceB], inbox.Select(m => m.TraceParent));

            // The commit is stored again without its first message: the others keep theirs.
            reopened.CompleteNormalization([inbox[0].Id], [], []);
        }

        using var again = Open();
        Assert.Equal([null, TraceB], again.ReadInbox(10).Select(m => m.TraceParent));
    }

    [Fact]
    public void GivenOutboxEntriesWithAndWithoutATraceParent_WhenTheStoreIsReopened_ThenEachHasItsOwn()
    {
        using (var store = Open())
        {
            store.Append([Message("x")]);
            store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("a") with { TraceParent = TraceA }, Entry("b"), Entry("c") with { TraceParent = TraceB }], []);
        }

        using var reopened = Open();
        Assert.Equal([TraceA, null, TraceB], reopened.ReadOutbox(10).Select(e => e.TraceParent));
    }

    [Fact]
    public void GivenNothingTraced_WhenStored_ThenTheDocumentsHaveNoTraceFieldAndReadAsUntraced()
    {
        using (var store = Open())
        {
            store.Append([Message("1"), Message("2")]);
            store.Append([Message("3")]);
            store.CompleteNormalization([store.ReadInbox(10)[^1].Id], [Entry("a")], []);
        }

        using (var db = new LiteDatabase(Path.Combine(folder, "gateway.db")))
        {
            Assert.All(db.GetCollection("inbox").FindAll().Concat(db.GetCollection("outbox").FindAll()), d => Assert.False(d.ContainsKey("traces")));
        }

        using var reopened = Open();
        Assert.All(reopened.ReadInbox(10), m => Assert.Null(m.TraceParent));
        Assert.Null(Assert.Single(reopened.ReadOutbox(10)).TraceParent);
    }

    [Theory]
    [InlineData("short")]
    [InlineData("numbers")]
    [InlineData("notArray")]
    public void GivenADamagedTraceField_WhenRead_ThenTheRecordsReadAsUntracedAndEverythingElseIsIntact(string damage)
    {
        using (var store = Open())
        {
            store.Append([Message("1") with { TraceParent = TraceA }, Message("2") with { TraceParent = TraceB }]);
            store.CompleteNormalization([], [Entry("a") with { TraceParent = TraceA }, Entry("b") with { TraceParent = TraceB }], []);
        }

        using (var db = new LiteDatabase(Path.Combine(folder, "gateway.db")))
        {
            foreach (var name in new[] { "inbox", "outbox" })
            {
                var collection = db.GetCollection(name);
                foreach (var document in collection.FindAll().ToList())
                {
                    document["traces"] = damage switch
                    {
                        "short" => new BsonArray(new BsonValue(TraceA)),
                        "numbers" => new BsonArray(new BsonValue(1), new BsonValue(2)),
                        _ => new BsonValue(TraceA),
                    };
                    collection.Update(document);
                }
            }
        }

        using var reopened = Open();
        var inbox = reopened.ReadInbox(10);
        Assert.Equal(["1", "2"], inbox.Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.All(inbox, m => Assert.Null(m.TraceParent));
        Assert.Equal(["a", "b"], reopened.ReadOutbox(10).Select(e => e.Key));
        Assert.All(reopened.ReadOutbox(10), e => Assert.Null(e.TraceParent));
    }

    private GatewayStore Open() => new(new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 10_000 }, clock);

    private InboxMessage Message(string payload) =>
        new("monitor-1", "ward/icu/monitor-1", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());

    private OutboxEntry Entry(string key) => new(key, "{}"u8.ToArray(), clock.GetUtcNow().UtcDateTime);
}
