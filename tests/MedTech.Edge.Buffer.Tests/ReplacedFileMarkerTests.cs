using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// Review s7 (995e881): a reload keeps the delivered-up-to marker held in memory. That marker belongs to the file
/// the process had open; when the file on the path is another one by the time the engine is reopened (an operator put
/// a salvaged or restored copy in place), its undelivered batches with ids at or below the old marker count as
/// delivered and are never sent: data loss. Before 995e881 the reopened file's own marker was used.
/// </summary>
public sealed class ReplacedFileMarkerTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-replaced-").FullName;

    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 12, 8, 8, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenTheFileReplacedByOneWithUndeliveredBatches_WhenTheEngineIsReopened_ThenItsBatchesAreStillSent()
    {
        var running = Options(Path.Combine(folder, "gateway.db"));
        var replacement = Options(Path.Combine(folder, "salvaged.db"));

        // The file put in place: two rounds normalized, never delivered (ids 1 and 2, marker 0).
        using (var other = new GatewayStore(replacement, clock))
        {
            NormalizeRounds(other, "kept", 2);
        }

        using var store = new GatewayStore(running, clock);
        NormalizeRounds(store, "sent", 3);
        store.MarkDelivered(store.ReadOutbox(100).Select(e => e.Id).Distinct().ToList());
        Assert.Equal(0, store.Stats().Outbox);

        // Renamed over the open file (the running engine keeps its own inode), then a failed write's reopen.
        File.Move(replacement.Path!, running.Path!, overwrite: true);
        store.Reopen();

        Assert.Equal(["kept 0", "kept 1"], store.ReadOutbox(100).Select(e => Encoding.UTF8.GetString(e.Payload.Span)));
    }

    private void NormalizeRounds(GatewayStore store, string name, int rounds)
    {
        for (var i = 0; i < rounds; i++)
        {
            store.Append([new InboxMessage("monitor-1", "ward/icu/monitor-1", Encoding.UTF8.GetBytes($"{{\"hr\":{i}}}"), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>())]);
            store.CompleteNormalization(store.ReadInbox(1).Select(m => m.Id).ToList(),
                [new OutboxEntry("bed-1", Encoding.UTF8.GetBytes($"{name} {i}"), clock.GetUtcNow().UtcDateTime)], []);
        }
    }

    private static BufferOptions Options(string path) => new() { Path = path, MaxMessages = 100_000, TimeToLive = TimeSpan.FromDays(7) };
}
