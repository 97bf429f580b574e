using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>The buffer on a real LiteDB file in a temporary folder.</summary>
public sealed class GatewayStoreTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-buffer-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 11, 24, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAppendedMessages_WhenTheStoreIsReopened_ThenTheyAreThereInArrivalOrderWithEveryField()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("monitor-1", "{\"hr\":70}"), Message("monitor-2", "{\"hr\":71}")]);
        }

        using var reopened = new GatewayStore(options, clock);
        var inbox = reopened.ReadInbox(10);

        Assert.Equal(["monitor-1", "monitor-2"], inbox.Select(m => m.ClientId));
        Assert.Equal("{\"hr\":71}", Encoding.UTF8.GetString(inbox[1].Payload.Span));
        Assert.Equal(("ward/icu/monitor-2", "v1"), (inbox[1].Topic, inbox[1].Properties["schema"]));
        Assert.Equal((clock.GetUtcNow().UtcDateTime, DateTimeKind.Utc), (inbox[1].ReceivedUtc, inbox[1].ReceivedUtc.Kind));
        Assert.True(inbox[0].Id < inbox[1].Id);
        Assert.Equal(2, reopened.Stats().Inbox);
    }

    [Fact]
    public void GivenNormalizedMessages_WhenCompleted_ThenTheyLeaveTheInboxInTheTransactionThatStoresTheirResults()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("monitor-1", "{\"hr\":70}"), Message("monitor-1", "not json")]);
        var inbox = store.ReadInbox(10);

        store.CompleteNormalization(
            inbox.Select(m => m.Id).ToList(),
            [new OutboxEntry("monitor-1", Encoding.UTF8.GetBytes("group"), clock.GetUtcNow().UtcDateTime)],
            [new DeadLetter(inbox[1], "InvalidDataFormatException", "The body is not JSON.", clock.GetUtcNow().UtcDateTime)]);

        Assert.Empty(store.ReadInbox(10));
        var entry = Assert.Single(store.ReadOutbox(10));
        Assert.Equal(("monitor-1", "group"), (entry.Key, Encoding.UTF8.GetString(entry.Payload.Span)));
        var deadLetter = Assert.Single(store.ListDeadLetters());
        Assert.Equal(("InvalidDataFormatException", "not json"), (deadLetter.Code, Encoding.UTF8.GetString(deadLetter.Message.Payload.Span)));
        Assert.Equal((0L, 1L, 1L), (store.Stats().Inbox, store.Stats().Outbox, store.Stats().DeadLetters));
    }

    [Fact]
    public void GivenTwoNormalizationRounds_WhenTheFirstBatchIsDelivered_ThenOnlyItLeavesTheOutboxAndTheRestKeepsItsOrder()
    {
        using var store = new GatewayStore(Options(), clock);
        store.CompleteNormalization([], Enumerable.Range(0, 3).Select(i => Entry($"d{i}")).ToList(), []);
        store.CompleteNormalization([], Enumerable.Range(3, 2).Select(i => Entry($"d{i}")).ToList(), []);
        var entries = store.ReadOutbox(10);

        store.MarkDelivered([entries[0].Id]);

        Assert.Equal(["d0", "d1", "d2", "d3", "d4"], entries.Select(e => e.Key));
        Assert.Equal(["d3", "d4"], store.ReadOutbox(10).Select(e => e.Key));
        Assert.Equal(2, store.Stats().Outbox);
    }

    [Fact]
    public void GivenDeliveredBatchesPurged_WhenTheStoreIsReopened_ThenTheyDoNotComeBackAndNewBatchesAreNotTakenForDelivered()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.CompleteNormalization([], [Entry("a")], []);
            store.CompleteNormalization([], [Entry("b")], []);
            store.MarkDelivered(store.ReadOutbox(10).Select(e => e.Id).ToList());
            Assert.Equal(2, store.PurgeDelivered());
        }

        // An empty LiteDB collection would hand out id 1 again; the delivered-up-to marker must not cover the new batch.
        using (var reopened = new GatewayStore(options, clock))
        {
            Assert.Empty(reopened.ReadOutbox(10));
            reopened.CompleteNormalization([], [Entry("c")], []);
        }

        using var again = new GatewayStore(options, clock);
        Assert.Equal(["c"], again.ReadOutbox(10).Select(e => e.Key));
        Assert.Equal((1L, 0L), (again.Stats().Outbox, again.Stats().DeliveredAwaitingPurge));
    }

    [Fact]
    public void GivenABatchDeliveredAheadOfAnOlderOne_WhenTheStoreIsReopened_ThenBothAreThereToSendAgain()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.CompleteNormalization([], [Entry("old")], []);
            store.CompleteNormalization([], [Entry("new")], []);
            store.MarkDelivered([store.ReadOutbox(10)[1].Id]);
            Assert.Equal(["old"], store.ReadOutbox(10).Select(e => e.Key));
        }

        // Only "everything up to here was delivered" is stored: a duplicate downstream, never a loss.
        using var reopened = new GatewayStore(options, clock);
        Assert.Equal(["old", "new"], reopened.ReadOutbox(10).Select(e => e.Key));
    }

    [Fact]
    public void GivenALargeUndeliveredBacklog_WhenPurging_ThenDeliveredBatchesStayUntilItHasDrained()
    {
        using var store = new GatewayStore(Options(max: 100_000), clock);
        store.CompleteNormalization([], Enumerable.Range(0, 10).Select(i => Entry($"a{i}")).ToList(), []);
        store.CompleteNormalization([], Enumerable.Range(0, 10_001).Select(i => Entry($"b{i}")).ToList(), []);
        var batches = store.ReadOutbox(100_000).Select(e => e.Id).Distinct().ToList();
        store.MarkDelivered([batches[0]]);

        Assert.Equal(0, store.PurgeDelivered());
        Assert.Equal((10_001L, 10L), (store.Stats().Outbox, store.Stats().DeliveredAwaitingPurge));

        store.MarkDelivered([batches[1]]);

        Assert.Equal(10_011, store.PurgeDelivered());
        Assert.Equal((0L, 0L), (store.Stats().Outbox, store.Stats().DeliveredAwaitingPurge));
    }

    [Fact]
    public void GivenBatchesLargerThanTheReadLimit_WhenRead_ThenWholeBatchesComeBackAndAtLeastOne()
    {
        using var store = new GatewayStore(Options(), clock);
        store.CompleteNormalization([], Enumerable.Range(0, 3).Select(i => Entry($"a{i}")).ToList(), []);
        store.CompleteNormalization([], Enumerable.Range(0, 3).Select(i => Entry($"b{i}")).ToList(), []);

        Assert.Equal(["a0", "a1", "a2"], store.ReadOutbox(2).Select(e => e.Key));
        Assert.Equal(6, store.ReadOutbox(6).Count);
    }

    [Fact]
    public void GivenAFullBufferThatStopsAccepting_WhenMoreArrive_ThenTheyAreRefusedAndNothingIsStored()
    {
        using var store = new GatewayStore(Options(max: 3), clock);
        store.Append([Message("a", "1"), Message("a", "2")]);

        Assert.Throws<BufferFullException>(() => store.Append([Message("a", "3"), Message("a", "4")]));

        Assert.Equal(2, store.ReadInbox(10).Count);
        Assert.Empty(store.Stats().Dropped);
    }

    [Fact]
    public void GivenAFullBufferThatEvicts_WhenMoreArrive_ThenTheOldestAreDroppedAndCounted()
    {
        using var store = new GatewayStore(Options(max: 3, policy: CapacityPolicy.EvictOldest), clock);
        store.Append([Message("a", "1"), Message("a", "2"), Message("a", "3")]);

        store.Append([Message("a", "4"), Message("a", "5")]);

        Assert.Equal(["3", "4", "5"], store.ReadInbox(10).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Equal(2, store.Stats().Dropped[GatewayStore.DroppedForCapacity]);
    }

    [Fact]
    public void GivenDataOlderThanTheTimeToLive_WhenExpired_ThenOnlyItIsDroppedAndCounted()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("a", "old")]);
        clock.Advance(TimeSpan.FromDays(6));
        store.Append([Message("a", "new")]);
        clock.Advance(TimeSpan.FromDays(2));

        var expired = store.ExpireOld();

        Assert.Equal(1, expired);
        Assert.Equal(["new"], store.ReadInbox(10).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Equal(1, store.Stats().Dropped[GatewayStore.DroppedForTtl]);
        Assert.Equal(TimeSpan.FromDays(2), store.Stats().OldestUnsentAge);
    }

    [Fact]
    public void GivenDeadLettersOfTwoReasons_WhenOneReasonIsReplayed_ThenOnlyThoseReturnToTheInbox()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("a", "1"), Message("a", "2")]);
        var inbox = store.ReadInbox(10);
        store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [],
            [new DeadLetter(inbox[0], "DroppedEvent", "No template matched.", clock.GetUtcNow().UtcDateTime),
             new DeadLetter(inbox[1], "InvalidDataFormatException", "Not JSON.", clock.GetUtcNow().UtcDateTime)]);

        var replayed = store.ReplayDeadLetters("DroppedEvent");

        Assert.Equal(1, replayed);
        Assert.Equal(["1"], store.ReadInbox(10).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Equal("InvalidDataFormatException", Assert.Single(store.ListDeadLetters()).Code);
        Assert.Single(store.ListDeadLetters("InvalidDataFormatException"));
    }

    [Fact]
    public void GivenADrainedBacklog_WhenSpaceIsReclaimed_ThenTheFileShrinks()
    {
        using var store = new GatewayStore(Options(max: 100_000), clock);
        foreach (var _ in Enumerable.Range(0, 20))
        {
            store.Append(Enumerable.Range(0, 500).Select(i => Message("a", new string('x', 300))).ToList());
        }

        store.CompleteNormalization(store.ReadInbox(20_000).Select(m => m.Id).ToList(), [], []);
        var before = store.Stats().FileBytes;

        var rebuilt = store.ReclaimSpace(minimumFileBytes: 0);

        Assert.True(rebuilt);
        Assert.True(store.Stats().FileBytes < before / 4, $"{store.Stats().FileBytes} bytes after, {before} before");
    }

    [Fact]
    public void GivenAnOutboxWrittenByTheFirstRelease_WhenTheStoreOpens_ThenItsEntriesAreCountedReadAndDeleted()
    {
        var options = Options();
        using (var db = new LiteDB.LiteDatabase(options.Path))
        {
            // The first release kept a round's entries as a BSON array of {key, payload}.
            db.GetCollection("outbox", LiteDB.BsonAutoId.Int64).Insert(new LiteDB.BsonDocument
            {
                ["createdUtc"] = clock.GetUtcNow().UtcDateTime,
                ["entries"] = new LiteDB.BsonArray(
                    new LiteDB.BsonDocument { ["key"] = "bed-1", ["payload"] = "a"u8.ToArray() },
                    new LiteDB.BsonDocument { ["key"] = "bed-2", ["payload"] = "b"u8.ToArray() }),
            });
        }

        using var store = new GatewayStore(options, clock);
        Assert.Equal(2, store.Stats().Outbox);
        var entries = store.ReadOutbox(10);
        Assert.Equal([("bed-1", "a"), ("bed-2", "b")], entries.Select(e => (e.Key, Encoding.UTF8.GetString(e.Payload.Span))));

        store.MarkDelivered([entries[0].Id]);
        Assert.Equal(0, store.Stats().Outbox);
    }

    /// <summary>
    /// The parts a store hands out (what the host registers per interface) work on the one file: each sees what another
    /// committed, the whole path runs through the parts alone, and it is all there after a reopen.
    /// </summary>
    [Fact]
    public void GivenTheStoresParts_WhenAMessageGoesThroughThemAlone_ThenEachSeesTheOthersCommitsAndAReopenFindsThemAll()
    {
        var options = Options();
        IInboxStore ingest;
        var now = clock.GetUtcNow().UtcDateTime;
        using (var store = new GatewayStore(options, clock))
        {
            (ingest, INormalizationInput normalize, IOutbox outbox, IDeadLetters deadLetters, IBufferUpkeep upkeep) =
                (store.Inbox, store.Inbox, store.Outbox, store.DeadLetters, store.Upkeep);

            var ids = ingest.Append([Message("monitor-1", "{\"hr\":\"\0\"}"), Message("monitor-2", "not json")]);
            Assert.Equal(1L, ingest.HeldBy("monitor-1").Messages);
            var read = normalize.ReadInbox(10);
            Assert.Equal(ids, read.Select(m => m.Id));

            normalize.CompleteNormalization(ids, [new OutboxEntry("monitor-1", Encoding.UTF8.GetBytes("group"), now)],
                [new DeadLetter(read[1], "InvalidDataFormatException", "not JSON", now)]);
            var stats = upkeep.Stats();
            Assert.Equal((1L, 1L, 1L, 1L), (stats.Outbox, stats.DeadLetters, stats.Normalized, stats.DeadLettered));
            Assert.Equal("not json", Encoding.UTF8.GetString(Assert.Single(deadLetters.ListDeadLetters()).Message.Payload.Span));

            var entry = Assert.Single(outbox.ReadOutbox(10));
            outbox.MarkDelivered([entry.Id], [new GroupDeadLetter("monitor-1", entry.Payload, "FhirResourceRejected", "422", now)]);
            Assert.Equal((0L, 0L), ingest.HeldBy("monitor-1"));
            Assert.Equal(1L, upkeep.PurgeDelivered());
            Assert.Equal(2, deadLetters.ReplayDeadLetters());
            Assert.Equal("not json", Encoding.UTF8.GetString(Assert.Single(normalize.ReadInbox(10)).Payload.Span));
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal("group", Encoding.UTF8.GetString(Assert.Single(reopened.Outbox.ReadOutbox(10)).Payload.Span));
        Assert.Single(reopened.Inbox.ReadInbox(10));
        var after = reopened.Upkeep.Stats();
        Assert.Equal((0L, 0L, 0L), (after.DeadLetters, after.Unaccounted, after.DeliveredAwaitingPurge));
        Assert.Equal(1L, reopened.Inbox.HeldBy("monitor-2").Messages);
    }

    private BufferOptions Options(long max = 1000, CapacityPolicy policy = CapacityPolicy.StopAccepting) => new()
    {
        Path = Path.Combine(folder, "gateway.db"),
        MaxMessages = max,
        CapacityPolicy = policy,
        TimeToLive = TimeSpan.FromDays(7),
    };

    private OutboxEntry Entry(string key) => new(key, Encoding.UTF8.GetBytes(key), clock.GetUtcNow().UtcDateTime);

    private InboxMessage Message(string client, string payload) =>
        new(client, $"ward/icu/{client}", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string> { ["schema"] = "v1" });
}
