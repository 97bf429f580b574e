using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// What a sender still holds once Normalize has moved its messages to the outbox (<see cref="GatewayStore.HeldBy"/>,
/// what the broker's per-device share reads): carried over by a round, released by delivery, eviction, expiry and
/// dead-lettering, and rebuilt from the file at open. On a real LiteDB file.
/// </summary>
public sealed class OutboxBySenderTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-outbox-senders-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAnUplinkOutage_WhenNormalizeMovesTwoSendersMessagesToTheOutboxAndTheStoreReopens_ThenEachStillHoldsThemUntilDelivered()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("monitor-1", "a"), Message("monitor-2", "bb"), Message("monitor-1", "ccc")]);
            store.Append([Message("monitor-1", "dddd")]);
            store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("monitor-1"), Entry("monitor-2")], []);

            Assert.Equal((0L, 4L), (store.Stats().Inbox, store.Stats().OutboxMessages));
            Assert.Equal((3L, 1L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));
            Assert.Equal(store.Stats().UnsentBytes, store.HeldBy("monitor-1").Bytes + store.HeldBy("monitor-2").Bytes);
            Assert.True(store.HeldBy("monitor-1").Bytes > store.HeldBy("monitor-2").Bytes);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((3L, 1L), (reopened.HeldBy("monitor-1").Messages, reopened.HeldBy("monitor-2").Messages));
        Assert.Equal(reopened.Stats().UnsentBytes, reopened.HeldBy("monitor-1").Bytes + reopened.HeldBy("monitor-2").Bytes);

        reopened.MarkDelivered(reopened.ReadOutbox(100).Select(e => e.Id).Distinct().ToList());
        Assert.Equal(((0L, 0L), (0L, 0L)), (reopened.HeldBy("monitor-1"), reopened.HeldBy("monitor-2")));
    }

    [Fact]
    public void GivenARoundWithDeadLettersAndPartOfACommit_WhenNormalized_ThenOnlyTheSendersMessagesBehindTheOutboxCount()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("monitor-1", "1"), Message("monitor-1", "2"), Message("monitor-2", "3"), Message("monitor-2", "4")]);
        var inbox = store.ReadInbox(10);

        // Three of the four leave the inbox: monitor-1's first becomes a dead letter (twice in the list, counted once),
        // monitor-1's second and monitor-2's first go to the outbox; monitor-2's second stays in the inbox.
        var dead = new DeadLetter(inbox[0], "Test", "test", clock.GetUtcNow().UtcDateTime);
        store.CompleteNormalization([inbox[0].Id, inbox[1].Id, inbox[2].Id], [Entry("monitor-1"), Entry("monitor-2")], [dead, dead]);

        Assert.Equal((1L, 2L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));
        Assert.Equal(store.Stats().UnsentBytes, store.HeldBy("monitor-1").Bytes + store.HeldBy("monitor-2").Bytes);
        Assert.Equal((1L, 2L, 0L), (store.Stats().DeadLettered, store.Stats().OutboxMessages, store.Stats().Unaccounted));
    }

    [Fact]
    public void GivenARelayReportingForSeveralDevices_WhenItsGroupsWaitInTheOutbox_ThenTheyCountAgainstTheRelaysClientIdNotTheDeviceIds()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("station-1", "bed-1"), Message("station-1", "bed-2"), Message("station-1", "bed-3")]);
        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("bed-1"), Entry("bed-2"), Entry("bed-3")], []);

        Assert.Equal(3, store.HeldBy("station-1").Messages);
        Assert.Equal(store.Stats().UnsentBytes, store.HeldBy("station-1").Bytes);
        Assert.Equal((0L, 0L), store.HeldBy("bed-1"));
    }

    [Fact]
    public void GivenOutboxBatchesOfTwoSenders_WhenEvictedForCapacityOrExpired_ThenTheirSendersAreReleased()
    {
        using var store = new GatewayStore(Options(maxMessages: 4, policy: CapacityPolicy.EvictOldest), clock);
        store.Append([Message("monitor-1", "1"), Message("monitor-1", "2")]);
        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("monitor-1")], []);
        clock.Advance(TimeSpan.FromMinutes(1));
        store.Append([Message("monitor-2", "3"), Message("monitor-2", "4")]);
        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("monitor-2")], []);

        // Full at 4: the next message evicts the oldest batch (monitor-1's two) whole.
        store.Append([Message("monitor-2", "5")]);
        Assert.Equal((0L, 3L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));

        clock.Advance(TimeSpan.FromDays(8));
        store.ExpireOld();
        Assert.Equal(((0L, 0L), 0L, 0L), (store.HeldBy("monitor-2"), store.Stats().UnsentBytes, store.Stats().Unaccounted));
    }

    [Fact]
    public void GivenAGroupTheWriterDeadLetters_WhenItsBatchIsMarkedDeliveredWithIt_ThenItsSenderIsReleasedAndAReplayCountsForNobody()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("monitor-1", "1")]);
        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("monitor-1")], []);
        var entry = store.ReadOutbox(10).Single();

        store.MarkDelivered([entry.Id], [new GroupDeadLetter(entry.Key, entry.Payload, "FhirResourceRejected", "test", clock.GetUtcNow().UtcDateTime)]);
        Assert.Equal((0L, 0L), store.HeldBy("monitor-1"));

        // An operator's replay puts the group back in the outbox; it is nobody's publish.
        store.ReplayDeadLetters();
        Assert.Equal((1L, (0L, 0L)), (store.Stats().OutboxMessages, store.HeldBy("monitor-1")));
    }

    [Fact]
    public void GivenARoundOverSeveralDocuments_WhenItsBatchesAreDeliveredOneByOne_ThenItsSenderCountsAllOfItUntilTheLastIsDelivered()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("monitor-1", "big"), Message("monitor-2", "big")]);
        var entries = Enumerable.Range(0, 12).Select(i => new OutboxEntry($"monitor-{(i % 2) + 1}", new byte[1_000_000], clock.GetUtcNow().UtcDateTime)).ToList();
        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), entries, []);
        var batches = store.ReadOutbox(1000).Select(e => e.Id).Distinct().Order().ToList();
        Assert.True(batches.Count > 1);
        Assert.Equal(store.Stats().UnsentBytes, store.HeldBy("monitor-1").Bytes + store.HeldBy("monitor-2").Bytes);

        store.MarkDelivered(batches[..^1]);
        Assert.Equal((1L, 1L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));
        store.MarkDelivered([batches[^1]]);
        Assert.Equal(((0L, 0L), (0L, 0L)), (store.HeldBy("monitor-1"), store.HeldBy("monitor-2")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(new byte[] { 0xff, 0xff, 0xff, 0x7f, 1, 2, 3 })]
    [InlineData(new byte[] { 0, 0, 0, 0 })]
    [InlineData(new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[0])]
    public void GivenAnOutboxBatchWithoutItsSendersOrWithADamagedField_WhenTheStoreOpens_ThenItOpensCountsTheBatchAndHoldsItAgainstNobody(byte[]? senders)
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("monitor-1", "1")]);
            store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("monitor-1")], []);
        }

        using (var db = new LiteDatabase(options.Path))
        {
            // Written by a release before the senders were kept (no field), or damaged.
            var outbox = db.GetCollection("outbox", BsonAutoId.Int64);
            var batch = outbox.FindAll().Single();
            Assert.True(batch.Remove("senders"));
            if (senders is not null)
            {
                batch["senders"] = senders;
            }

            outbox.Update(batch);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((1L, (0L, 0L)), (reopened.Stats().OutboxMessages, reopened.HeldBy("monitor-1")));
        reopened.MarkDelivered(reopened.ReadOutbox(10).Select(e => e.Id).ToList());
        Assert.Equal((0L, (0L, 0L)), (reopened.Stats().OutboxMessages, reopened.HeldBy("monitor-1")));
    }

    [Fact]
    public void GivenAHostileClientId_WhenItsMessagesGoToTheOutboxAndTheStoreReopens_ThenItCountsUnderTheSameId()
    {
        var options = Options();
        // NUL, 60 KB of UTF-8, a surrogate pair and an unpaired one (which UTF-8 would turn into U+FFFD).
        var hostile = "bed\0" + new string('é', 30_000) + "\uD83D\uDE00\uD800";
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message(hostile, "1"), Message(hostile, "2")]);
            store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), [Entry("bed")], []);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal(2, reopened.HeldBy(hostile).Messages);
        Assert.Equal(reopened.Stats().UnsentBytes, reopened.HeldBy(hostile).Bytes);
        Assert.Equal((0L, 0L), reopened.HeldBy("bed"));
    }

    private BufferOptions Options(long maxMessages = 10_000, CapacityPolicy policy = CapacityPolicy.StopAccepting) =>
        new() { Path = Path.Combine(folder, "gateway.db"), MaxMessages = maxMessages, CapacityPolicy = policy };

    private InboxMessage Message(string clientId, string payload) =>
        new(clientId, "ward/icu/v", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());

    private OutboxEntry Entry(string key) => new(key, Encoding.UTF8.GetBytes($"{{\"group\":\"{key}\"}}"), clock.GetUtcNow().UtcDateTime);
}
