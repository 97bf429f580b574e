using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// The parts a <see cref="GatewayStore"/> hands out (what the host registers per interface) work on the one file: each
/// sees what another committed, the whole path runs through the parts alone, and it is all there after a reopen.
/// </summary>
public sealed class BufferPartsTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-buffer-parts-").FullName;
    private readonly DateTime now = new(2026, 12, 7, 9, 0, 0, DateTimeKind.Utc);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenTheStoresParts_WhenAMessageGoesThroughThemAlone_ThenEachSeesTheOthersCommitsAndAReopenFindsThemAll()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db") };
        IInboxStore ingest;
        using (var store = new GatewayStore(options))
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

        using var reopened = new GatewayStore(options);
        Assert.Equal("group", Encoding.UTF8.GetString(Assert.Single(reopened.Outbox.ReadOutbox(10)).Payload.Span));
        Assert.Single(reopened.Inbox.ReadInbox(10));
        var after = reopened.Upkeep.Stats();
        Assert.Equal((0L, 0L, 0L), (after.DeadLetters, after.Unaccounted, after.DeliveredAwaitingPurge));
        Assert.Equal(1L, reopened.Inbox.HeldBy("monitor-2").Messages);
    }

    private InboxMessage Message(string client, string payload) =>
        new(client, $"devices/{client}/vitals", Encoding.UTF8.GetBytes(payload), now, new Dictionary<string, string>());
}
