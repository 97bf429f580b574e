using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// Capacity as the install guide sizes it (device messages and bytes, not measurement groups), the dead letters' own
/// share and time-to-live, and the durable counters: after every run, hostile or not, committed + replayed =
/// normalized + dead-lettered + dropped from the inbox + inbox pending, across reopens. On a real LiteDB file.
/// </summary>
public sealed class CapacityAccountingTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-capacity-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenTenMessagesNormalizedIntoOneGroup_WhenTheLimitIsTen_ThenTheGroupCountsTenAndTheNextMessageIsRefused()
    {
        using var store = new GatewayStore(Options(maxMessages: 10), clock);
        store.Append(Messages(10));
        store.CompleteNormalization(store.ReadInbox(100).Select(m => m.Id).ToList(), [Entry("monitor-1")], []);

        Assert.Equal((0L, 1L, 10L), (store.Stats().Inbox, store.Stats().Outbox, store.Stats().OutboxMessages));
        Assert.Throws<BufferFullException>(() => store.Append(Messages(1)));
        Assert.Equal((10L, 10L, 0L), (store.Stats().Committed, store.Stats().Normalized, store.Stats().Unaccounted));
    }

    [Fact]
    public void GivenACommitRefusedForCapacity_ThenStatsSayAtCapacityUntilSuchACommitWouldFit()
    {
        using var store = new GatewayStore(Options(maxMessages: 10), clock);
        store.Append(Messages(10));
        Assert.False(store.Stats().AtCapacity);

        Assert.Throws<BufferFullException>(() => store.Append(Messages(1)));
        Assert.True(store.Stats().AtCapacity);

        store.CompleteNormalization(store.ReadInbox(100).Select(m => m.Id).ToList(), [Entry("monitor-1")], []);
        store.MarkDelivered(store.ReadOutbox(100).Select(e => e.Id).Distinct().ToList());
        store.Append(Messages(1));
        Assert.False(store.Stats().AtCapacity);
    }

    [Fact]
    public void GivenACommitThatEvictsTheOldest_ThenStatsSayAtCapacityUntilSuchACommitWouldFitWithoutEvicting()
    {
        using var store = new GatewayStore(Options(maxMessages: 10, policy: CapacityPolicy.EvictOldest), clock);
        store.Append(Messages(10));
        store.Append(Messages(1));
        Assert.True(store.Stats().AtCapacity);

        store.CompleteNormalization(store.ReadInbox(100).Select(m => m.Id).ToList(), [Entry("monitor-1")], []);
        store.MarkDelivered(store.ReadOutbox(100).Select(e => e.Id).Distinct().ToList());
        store.Append(Messages(1));
        Assert.False(store.Stats().AtCapacity);
    }

    [Fact]
    public void GivenOneMessageNormalizedIntoFiftyGroups_WhenTheLimitIsThree_ThenTwoMoreMessagesAreTaken()
    {
        var options = Options(maxMessages: 3);
        using (var store = new GatewayStore(options, clock))
        {
            store.Append(Messages(1));
            store.CompleteNormalization(store.ReadInbox(100).Select(m => m.Id).ToList(), Enumerable.Range(0, 50).Select(i => Entry($"m{i}")).ToList(), []);
        }

        // The batch remembers its one device message in the file.
        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((50L, 1L), (reopened.Stats().Outbox, reopened.Stats().OutboxMessages));
        reopened.Append(Messages(2));
        Assert.Throws<BufferFullException>(() => reopened.Append(Messages(1)));
    }

    [Fact]
    public void GivenAnExplicitDeviceMessageCount_WhenARoundIsSplitOverSeveralDocuments_ThenTheBatchesShareItExactly()
    {
        using var store = new GatewayStore(Options(), clock);
        var entries = Enumerable.Range(0, 20).Select(i => new OutboxEntry($"bed-{i}", new byte[1_000_000], clock.GetUtcNow().UtcDateTime)).ToList();
        store.CompleteNormalization([], entries, [], deviceMessages: 7);

        Assert.Equal((20L, 7L), (store.Stats().Outbox, store.Stats().OutboxMessages));
        var batches = store.ReadOutbox(1000).Select(e => e.Id).Distinct().ToList();
        Assert.True(batches.Count > 1);
        store.MarkDelivered([batches[0]]);
        Assert.InRange(store.Stats().OutboxMessages, 0, 6);
    }

    [Fact]
    public void GivenAnOutboxBatchOfAnEarlierRelease_WhenCounted_ThenEachEntryCountsAsOneMessage()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.CompleteNormalization([], [Entry("a")], []);
        }

        using (var db = new LiteDatabase(options.Path))
        {
            var outbox = db.GetCollection("outbox", BsonAutoId.Int64);
            var batch = outbox.FindAll().Single();
            batch.Remove("messages");
            outbox.Update(batch);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal(1, reopened.Stats().OutboxMessages);
    }

    [Fact]
    public void GivenLargeMessages_WhenTheyReachMaxBytes_ThenTheNextIsRefusedOrTheOldestEvictedAndCounted()
    {
        var refusing = new GatewayStore(Options(maxBytes: BufferOptions.MinimumMaxBytes), clock);
        using (refusing)
        {
            for (var i = 0; i < 7; i++)
            {
                refusing.Append([Large(i)]);
            }

            Assert.InRange(refusing.Stats().UnsentBytes, 7L << 23, BufferOptions.MinimumMaxBytes);
            var full = Assert.Throws<BufferFullException>(() => refusing.Append([Large(7), Large(8)]));
            Assert.Contains("bytes", full.Message, StringComparison.Ordinal);
            Assert.Equal(7, refusing.Stats().Inbox);
        }

        File.Delete(refusing.FilePath);
        using var evicting = new GatewayStore(Options(maxBytes: BufferOptions.MinimumMaxBytes, policy: CapacityPolicy.EvictOldest), clock);
        for (var i = 0; i < 12; i++)
        {
            evicting.Append([Large(i)]);
        }

        var stats = evicting.Stats();
        Assert.InRange(stats.UnsentBytes, 1, BufferOptions.MinimumMaxBytes);
        Assert.Equal(12 - stats.Inbox, stats.Dropped[GatewayStore.DroppedForCapacity]);
        Assert.Equal((12L - stats.Inbox, 0L), (stats.DroppedFromInbox, stats.Unaccounted));
        Assert.Equal((byte)11, evicting.ReadInbox(100)[^1].Payload.Span[0]);
    }

    [Fact]
    public void GivenOneCommitLargerThanMaxBytes_WhenTheBufferIsEmpty_ThenItIsTakenAndTheNextRefused()
    {
        using var store = new GatewayStore(Options(maxBytes: BufferOptions.MinimumMaxBytes), clock);

        store.Append(Enumerable.Range(0, 9).Select(Large).ToList());

        Assert.Equal(9, store.Stats().Inbox);
        Assert.Throws<BufferFullException>(() => store.Append(Messages(1)));
    }

    [Fact]
    public void GivenMoreDeadLettersThanTheirShare_WhenStored_ThenTheOldestAreDroppedAndCountedAcrossReopens()
    {
        var options = Options();
        options.MaxDeadLetters = 3;
        using (var store = new GatewayStore(options, clock))
        {
            store.Append(Messages(5));
            var inbox = store.ReadInbox(100);
            store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [], inbox.Select(m => Dead(m, "Poison")).ToList());
            Assert.Equal(["3", "4", "5"], store.ListDeadLetters().Select(d => Encoding.UTF8.GetString(d.Message.Payload.Span)));
        }

        using var reopened = new GatewayStore(options, clock);
        var stats = reopened.Stats();
        Assert.Equal((3L, 2L, 5L, 0L), (stats.DeadLetters, stats.Dropped[GatewayStore.DroppedDeadLetterForCapacity], stats.DeadLettered, stats.Unaccounted));
        Assert.Equal(Measured(reopened, options), stats.DeadLetterBytes);
    }

    [Fact]
    public void GivenLargeDeadLettersOverTheirByteShare_WhenStored_ThenTheOldestGoUntilTheyFit()
    {
        var options = Options();
        options.MaxDeadLetterBytes = BufferOptions.MinimumMaxBytes;
        using var store = new GatewayStore(options, clock);
        for (var i = 0; i < 12; i++)
        {
            store.Append([Large(i)]);
            var message = Assert.Single(store.ReadInbox(10));
            store.CompleteNormalization([message.Id], [], [Dead(message, "InvalidDataFormatException")]);
        }

        var stats = store.Stats();
        Assert.InRange(stats.DeadLetterBytes, 7L << 23, BufferOptions.MinimumMaxBytes);
        Assert.Equal(12, stats.DeadLetters + stats.Dropped[GatewayStore.DroppedDeadLetterForCapacity]);
        Assert.Equal((byte)11, store.ListDeadLetters()[^1].Message.Payload.Span[0]);
        Assert.Equal((12L, 0L), (stats.DeadLettered, stats.Unaccounted));
    }

    [Fact]
    public void GivenDeadLettersOlderThanTheirTimeToLive_WhenExpired_ThenTheyGoCountedAndNewerStay()
    {
        var options = Options();
        options.DeadLetterTimeToLive = TimeSpan.FromDays(2);
        options.TimeToLive = TimeSpan.FromDays(30);
        using var store = new GatewayStore(options, clock);
        store.Append(Messages(3));
        var inbox = store.ReadInbox(10);
        store.CompleteNormalization(inbox.Take(2).Select(m => m.Id).ToList(), [], inbox.Take(2).Select(m => Dead(m, "DroppedEvent")).ToList());
        clock.Advance(TimeSpan.FromDays(2));
        store.CompleteNormalization([inbox[2].Id], [], [Dead(inbox[2], "DroppedEvent")]);
        clock.Advance(TimeSpan.FromHours(1));

        store.ExpireOld();

        Assert.Equal("3", Encoding.UTF8.GetString(Assert.Single(store.ListDeadLetters()).Message.Payload.Span));
        var stats = store.Stats();
        Assert.Equal((2L, 1L, 3L, 0L), (stats.Dropped[GatewayStore.DroppedDeadLetterForTtl], stats.DeadLetters, stats.DeadLettered, stats.Unaccounted));
        Assert.Equal(Measured(store, options), stats.DeadLetterBytes);
    }

    [Fact]
    public void GivenAHostileMixedRun_WhenEveryStepHasHappenedAndTheFileReopens_ThenTheCountersStillBalance()
    {
        var options = Options(maxMessages: 20, policy: CapacityPolicy.EvictOldest);
        options.MaxDeadLetters = 4;
        options.TimeToLive = TimeSpan.FromDays(1);
        using (var store = new GatewayStore(options, clock))
        {
            var nul = new Dictionary<string, string>(StringComparer.Ordinal) { ["\0"] = "\0", ["Foo"] = "1", ["foo"] = "2" };
            store.Append(Enumerable.Range(0, 15).Select(i => new InboxMessage(new string('d', 300_000), "t", new[] { (byte)i }, clock.GetUtcNow().UtcDateTime, nul)).ToList());
            var round = store.ReadInbox(8);
            store.CompleteNormalization(round.Where((_, i) => i % 2 == 0).Select(m => m.Id).ToList(), [Entry("a")], round.Where((_, i) => i % 4 == 0).Select(m => Dead(m, "Poison")).ToList());
            store.Append(Messages(10));
            clock.Advance(TimeSpan.FromDays(2));
            store.Append(Messages(3));
            store.ExpireOld();
            var rest = store.ReadInbox(100);
            store.CompleteNormalization(rest.Select(m => m.Id).ToList(), [], rest.Select(m => Dead(m, "TemplateExpressionException")).ToList());
            Assert.Equal(0, store.Stats().Unaccounted);
            store.ReplayDeadLetters("Poison");
            Assert.Equal(0, store.Stats().Unaccounted);
        }

        using var reopened = new GatewayStore(options, clock);
        var stats = reopened.Stats();
        Assert.Equal(0, stats.Unaccounted);
        Assert.Equal(28, stats.Committed);
        Assert.True(stats.DroppedFromInbox > 0 && stats.Dropped[GatewayStore.DroppedDeadLetterForCapacity] > 0);
        Assert.Equal(Measured(reopened, options), stats.DeadLetterBytes);
    }

    [Fact]
    public void GivenOnlyCommitsSinceTheLastCounterWrite_WhenTheFileReopens_ThenTheCommitsCarryTheTotal()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append(Messages(3));
            store.CompleteNormalization([store.ReadInbox(10)[0].Id], [], []);
            store.Append(Messages(4));
            store.Append(Messages(5));
        }

        using (var reopened = new GatewayStore(options, clock))
        {
            Assert.Equal((12L, 1L, 11L, 0L), (reopened.Stats().Committed, reopened.Stats().Normalized, reopened.Stats().Inbox, reopened.Stats().Unaccounted));
            var inbox = reopened.ReadInbox(100);
            reopened.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [], [Dead(inbox[^1], "Poison")]);
        }

        using var again = new GatewayStore(options, clock);
        Assert.Equal((12L, 11L, 1L, 0L, 0L), (again.Stats().Committed, again.Stats().Normalized, again.Stats().DeadLettered, again.Stats().Inbox, again.Stats().Unaccounted));
    }

    [Fact]
    public void GivenAFileOfAnEarlierReleaseWithPendingMessages_WhenOpened_ThenTheyCountAsCommittedAndTheCountersBalance()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append(Messages(4));
        }

        using (var db = new LiteDatabase(options.Path))
        {
            db.GetCollection("counters").DeleteAll();
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((4L, 0L), (reopened.Stats().Committed, reopened.Stats().Unaccounted));
        reopened.CompleteNormalization(reopened.ReadInbox(10).Select(m => m.Id).ToList(), [], []);
        Assert.Equal((4L, 0L), (reopened.Stats().Normalized, reopened.Stats().Unaccounted));
    }

    [Theory]
    [InlineData(nameof(BufferOptions.MaxBytes))]
    [InlineData(nameof(BufferOptions.MaxDeadLetterBytes))]
    [InlineData(nameof(BufferOptions.MaxDeadLetters))]
    [InlineData(nameof(BufferOptions.DeadLetterTimeToLive))]
    public void GivenAnOptionOutOfRange_WhenValidated_ThenTheErrorNamesIt(string option)
    {
        var options = new BufferOptions();
        Assert.Empty(options.Validate());
        switch (option)
        {
            case nameof(BufferOptions.MaxBytes): options.MaxBytes = BufferOptions.MinimumMaxBytes - 1; break;
            case nameof(BufferOptions.MaxDeadLetterBytes): options.MaxDeadLetterBytes = 0; break;
            case nameof(BufferOptions.MaxDeadLetters): options.MaxDeadLetters = 0; break;
            default: options.DeadLetterTimeToLive = TimeSpan.Zero; break;
        }

        Assert.Contains(options.Validate(), e => e.Contains($"Buffer:{option}", StringComparison.Ordinal));
    }

    /// <summary>
    /// The dead letters' bytes measured from the file, as a file of an earlier release is measured at open; closes
    /// <paramref name="store"/> first (the file belongs to one store at a time).
    /// </summary>
    private static long Measured(GatewayStore store, BufferOptions options)
    {
        store.Dispose();
        using (var db = new LiteDatabase(options.Path))
        {
            db.GetCollection("counters").Delete("acct");
        }

        using var measuring = new GatewayStore(options);
        return measuring.Stats().DeadLetterBytes;
    }

    private BufferOptions Options(long maxMessages = 1000, long maxBytes = 1L << 30, CapacityPolicy policy = CapacityPolicy.StopAccepting) => new()
    {
        Path = Path.Combine(folder, "gateway.db"),
        MaxMessages = maxMessages,
        MaxBytes = maxBytes,
        CapacityPolicy = policy,
        ForceToDisk = false,
    };

    private List<InboxMessage> Messages(int count) => Enumerable.Range(1, count)
        .Select(i => new InboxMessage("monitor-1", "devices/monitor-1/vitals", Encoding.UTF8.GetBytes($"{i}"), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>()))
        .ToList();

    private InboxMessage Large(int marker)
    {
        var payload = new byte[8 << 20];
        payload[0] = (byte)marker;
        return new InboxMessage("monitor-1", "devices/monitor-1/waveform", payload, clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());
    }

    private DeadLetter Dead(InboxMessage message, string code) => new(message, code, "reason", clock.GetUtcNow().UtcDateTime);

    private OutboxEntry Entry(string key) => new(key, Encoding.UTF8.GetBytes(key), clock.GetUtcNow().UtcDateTime);
}
