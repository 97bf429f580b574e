using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// Review of issue 22's buffer changes (the stored <c>traces</c> field): capacity counts bytes "as stored", on a real
/// LiteDB file.
/// </summary>
public sealed class BufferTraceCapacityTests : IDisposable
{
    private const string Trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-review22-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 7, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// With spans recorded every record carries a ~55-character traceparent in the document's <c>traces</c> field, beside
    /// its binary data. MaxBytes promises "unsent data held (inbox records and outbox groups as stored)", but
    /// BufferDocuments.Bytes counts only the <c>data</c> field, so for small vital-signs messages the file outgrows the
    /// byte capacity by the trace field (and an operator who sized MaxBytes to half the disk fills it).
    /// </summary>
    [Fact]
    public void GivenTracedMessages_WhenCommitted_ThenTheirStoredTraceBytesCountAgainstCapacity()
    {
        using var untraced = Open("plain.db");
        using var traced = Open("traced.db");
        for (var i = 0; i < 20; i++)
        {
            untraced.Append(Enumerable.Range(0, 50).Select(n => Message($"{{\"hr\":{n}}}")).ToList());
            traced.Append(Enumerable.Range(0, 50).Select(n => Message($"{{\"hr\":{n}}}") with { TraceParent = Trace }).ToList());
        }

        var plainBytes = untraced.Stats().UnsentBytes;
        var tracedBytes = traced.Stats().UnsentBytes;

        // 1,000 traceparents of 55 characters are at least 55,000 more bytes stored.
        Assert.True(tracedBytes >= plainBytes + (1000 * Trace.Length),
            $"traced unsent bytes {tracedBytes} vs untraced {plainBytes}: the stored 'traces' field is not counted against MaxBytes");
    }

    private GatewayStore Open(string name) => new(new BufferOptions { Path = Path.Combine(folder, name), MaxMessages = 100_000 }, clock);

    private InboxMessage Message(string payload) =>
        new("monitor-1", "ward/icu/monitor-1", Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());
}

/// <summary>The split parts on one real file from four threads at once (ingest, normalize, forward, upkeep with rebuilds and eviction).</summary>
public sealed class BufferPartsConcurrencyTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-review22-race-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenTheBufferPartsUsedConcurrently_WhenReopened_ThenAccountingAndIndexesMatchTheFile()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "race.db"), MaxMessages = 300, CapacityPolicy = CapacityPolicy.EvictOldest };
        BufferStats before;
        using (var store = new GatewayStore(options))
        {
            var ingestDone = false;
            var ingest = Task.Run(() =>
            {
                for (var i = 0; i < 300; i++)
                {
                    store.Inbox.Append(Enumerable.Range(0, 5).Select(n => new InboxMessage($"dev-{n}", "t", Encoding.UTF8.GetBytes($"{{\"v\":{i}}}"), DateTime.UtcNow, new Dictionary<string, string>())).ToList());
                }

                Volatile.Write(ref ingestDone, true);
            });
            var normalize = Task.Run(() =>
            {
                while (!Volatile.Read(ref ingestDone) || store.Inbox.ReadInbox(1).Count > 0)
                {
                    var read = store.Inbox.ReadInbox(7);
                    if (read.Count > 0)
                    {
                        store.Inbox.CompleteNormalization(read.Select(m => m.Id).ToList(), read.Select(m => new OutboxEntry(m.ClientId, m.Payload.ToArray(), DateTime.UtcNow)).ToList(), []);
                    }
                }
            });
            var forward = Task.Run(() =>
            {
                while (!normalize.IsCompleted || store.Outbox.ReadOutbox(1).Count > 0)
                {
                    var batch = store.Outbox.ReadOutbox(20);
                    if (batch.Count > 0)
                    {
                        store.Outbox.MarkDelivered(batch.Select(e => e.Id).Distinct().ToList());
                    }
                }
            });
            var upkeep = Task.Run(() =>
            {
                while (!forward.IsCompleted)
                {
                    store.Upkeep.ExpireOld();
                    store.Upkeep.PurgeDelivered();
                    store.Upkeep.ReclaimSpace(minimumFileBytes: 0);
                    Assert.Equal(0, store.Upkeep.Stats().Unaccounted);
                }
            });
            await Task.WhenAll(ingest, normalize, forward, upkeep);
            before = store.Upkeep.Stats();
        }

        using var reopened = new GatewayStore(options);
        var after = reopened.Upkeep.Stats();
        Assert.Equal(0, after.Unaccounted);
        Assert.Equal((0L, 0L, 1500L), (after.Inbox, after.Outbox, after.Committed));
        Assert.Equal((before.Normalized, before.Committed, before.DroppedFromInbox), (after.Normalized, after.Committed, after.DroppedFromInbox));
        Assert.Equal(1500L, after.Normalized + after.DroppedFromInbox);
    }
}
