using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// Second hostile review of issue 19's per-device share of the buffer (<see cref="GatewayStore.HeldBy"/>: inbox and
/// undelivered outbox by sender), on a real LiteDB file.
/// </summary>
public sealed class HostileReview19Round2BufferTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile19b-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// A round's senders ride on its last document only, on the assumption that a round's batches leave in order. The
    /// hub forwarder marks delivered whichever batches of a round the hub acknowledged and leaves those with a transient
    /// failure (OutboxForwarder.Complete): when the last document is acknowledged and an earlier one is not, the senders
    /// are released while most of their data is still undelivered, and the device may publish that much more than its share.
    /// </summary>
    [Fact]
    public void GivenARoundOverSeveralDocuments_WhenItsLastBatchIsDeliveredBeforeTheOthers_ThenItsSendersStillHoldTheirMessages()
    {
        using var store = new GatewayStore(Options(), clock);
        store.Append([Message("monitor-1", "big"), Message("monitor-2", "big")]);
        var entries = Enumerable.Range(0, 12).Select(i => new OutboxEntry($"monitor-{(i % 2) + 1}", new byte[1_000_000], clock.GetUtcNow().UtcDateTime)).ToList();
        store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), entries, []);
        var batches = store.ReadOutbox(1000).Select(e => e.Id).Distinct().Order().ToList();
        Assert.True(batches.Count > 1);

        // The hub acknowledged the round's last batch; an earlier one failed for now and is sent again.
        store.MarkDelivered([batches[^1]]);

        Assert.True(store.Stats().UnsentBytes > 0);
        Assert.Equal((1L, 1L), (store.HeldBy("monitor-1").Messages, store.HeldBy("monitor-2").Messages));
        Assert.Equal(store.Stats().UnsentBytes, store.HeldBy("monitor-1").Bytes + store.HeldBy("monitor-2").Bytes);
    }

    /// <summary>
    /// Holds: the same out-of-order delivery, then a restart before the earlier batches are delivered and the resend of
    /// everything past the marker: the counts come back at open and end at zero, never negative, never stuck.
    /// </summary>
    [Fact]
    public void GivenTheLastBatchDeliveredFirst_WhenTheStoreReopensAndEverythingIsDeliveredAgain_ThenTheSendersEndAtZero()
    {
        var options = Options();
        using (var store = new GatewayStore(options, clock))
        {
            store.Append([Message("monitor-1", "big"), Message("monitor-2", "big")]);
            var entries = Enumerable.Range(0, 12).Select(i => new OutboxEntry($"monitor-{(i % 2) + 1}", new byte[1_000_000], clock.GetUtcNow().UtcDateTime)).ToList();
            store.CompleteNormalization(store.ReadInbox(10).Select(m => m.Id).ToList(), entries, []);
            var batches = store.ReadOutbox(1000).Select(e => e.Id).Distinct().Order().ToList();
            store.MarkDelivered([batches[^1]]);
        }

        using var reopened = new GatewayStore(options, clock);
        Assert.Equal((1L, 1L), (reopened.HeldBy("monitor-1").Messages, reopened.HeldBy("monitor-2").Messages));
        var again = reopened.ReadOutbox(1000).Select(e => e.Id).Distinct().ToList();
        reopened.MarkDelivered(again);
        reopened.MarkDelivered(again);
        Assert.Equal(((0L, 0L), (0L, 0L)), (reopened.HeldBy("monitor-1"), reopened.HeldBy("monitor-2")));
        reopened.Append([Message("monitor-1", "next")]);
        Assert.Equal(1, reopened.HeldBy("monitor-1").Messages);
    }

    private BufferOptions Options() => new() { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 10_000 };

    private InboxMessage Message(string clientId, string payload) =>
        new(clientId, "ward/icu/v", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());
}
