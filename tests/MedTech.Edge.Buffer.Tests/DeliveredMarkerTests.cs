using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// The delivered-up-to marker is written at most once a second (<c>OutboxIndex.MarkerInterval</c>); between writes it
/// lives in memory. A reload of the file (space reclaimed, the engine reopened after a failed write) must not forget
/// it: batches the hub already has would count as unsent again and be sent again (the CI race of
/// <see cref="BufferPartsConcurrencyTests"/> left 35 delivered entries undelivered after a rebuild).
/// </summary>
public sealed class DeliveredMarkerTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-marker-").FullName;

    // Never advanced: every delivery below moves the marker in memory only.
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 8, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenDeliveredBatchesNotYetMarkedOnDisk_WhenSpaceIsReclaimed_ThenTheyStayDelivered()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            // A drained backlog (a large, mostly free file) so the rebuild runs, then three batches delivered.
            foreach (var _ in Enumerable.Range(0, 20))
            {
                store.Append(Enumerable.Range(0, 500).Select(_ => Message(new string('x', 300))).ToList());
            }

            store.CompleteNormalization(store.ReadInbox(20_000).Select(m => m.Id).ToList(), [], []);
            var delivered = NormalizeAndDeliverThreeBatches(store);

            Assert.True(store.ReclaimSpace(minimumFileBytes: 0));

            Assert.Equal(0, store.Stats().Outbox);
            Assert.Empty(store.ReadOutbox(100));
            Assert.Equal(0, store.Stats().Unaccounted);
            Assert.Equal(delivered, store.PurgeDelivered());
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((0L, 0L), (reopened.Stats().Outbox, reopened.Stats().Inbox));
    }

    [Fact]
    public void GivenDeliveredBatchesNotYetMarkedOnDisk_WhenTheEngineIsReopened_ThenTheyStayDelivered()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            NormalizeAndDeliverThreeBatches(store);

            store.Reopen();

            Assert.Equal(0, store.Stats().Outbox);
            Assert.Empty(store.ReadOutbox(100));
            Assert.Equal(0, store.Stats().Unaccounted);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal(0, reopened.Stats().Outbox);
    }

    [Fact]
    public void GivenAnUndeliveredBatchBehindDeliveredOnes_WhenReloaded_ThenOnlyItIsSentAgain()
    {
        var options = Options();
        using var store = new GatewayStore(options, clock);
        for (var i = 0; i < 3; i++)
        {
            store.Append([Message($"{{\"hr\":{i}}}")]);
            store.CompleteNormalization(store.ReadInbox(1).Select(m => m.Id).ToList(), [new OutboxEntry("bed-1", Encoding.UTF8.GetBytes($"g{i}"), clock.GetUtcNow().UtcDateTime)], []);
        }

        var batches = store.ReadOutbox(100).Select(e => e.Id).ToList();
        store.MarkDelivered([batches[0], batches[2]]);

        store.Reopen();

        Assert.Equal(["g1", "g2"], store.ReadOutbox(100).Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
    }

    /// <summary>Three batches normalized and delivered; returns their entries.</summary>
    private long NormalizeAndDeliverThreeBatches(GatewayStore store)
    {
        for (var i = 0; i < 3; i++)
        {
            store.Append([Message($"{{\"hr\":{i}}}")]);
            store.CompleteNormalization(store.ReadInbox(1).Select(m => m.Id).ToList(), [new OutboxEntry("bed-1", Encoding.UTF8.GetBytes($"group {i}"), clock.GetUtcNow().UtcDateTime)], []);
        }

        var batch = store.ReadOutbox(100);
        Assert.Equal(3, batch.Count);
        store.MarkDelivered(batch.Select(e => e.Id).Distinct().ToList());
        Assert.Equal(0, store.Stats().Outbox);
        return batch.Count;
    }

    private BufferOptions Options() => new() { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 100_000, TimeToLive = TimeSpan.FromDays(7) };

    private InboxMessage Message(string payload) =>
        new("monitor-1", "ward/icu/monitor-1", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());
}
