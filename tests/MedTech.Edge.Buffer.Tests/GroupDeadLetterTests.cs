using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// Measurement groups a forwarder could not deliver are dead letters of their own type, on a real LiteDB file; those
/// an earlier release stored as device messages under the writer's topic are read as groups after an upgrade in place.
/// </summary>
public sealed class GroupDeadLetterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-group-deadletters-").FullName;
    private readonly DateTime now = new(2026, 12, 7, 9, 0, 0, DateTimeKind.Utc);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAFileWithGroupDeadLettersWrittenTheOldWay_WhenTheUpgradedGatewayOpensIt_ThenTheyAreGroupsAndReplayIntoTheOutbox()
    {
        var path = Path.Combine(folder, "gateway.db");
        new GatewayStore(new BufferOptions { Path = path }).Dispose();
        var payload = Encoding.UTF8.GetBytes("{\"group\":\"\0secret\"}");
        using (var old = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }))
        {
            // Exactly what MarkDelivered stored before groups had a type: a device-message record under the writer's topic.
            var dead = old.GetCollection("deadletters", BsonAutoId.Int64);
            dead.Insert(BufferDocuments.ToDocument(new DeadLetter(
                new InboxMessage("device-7", "$medtech/fhir-writer", payload, now, new Dictionary<string, string>()), "FhirResourceRejected", "422", now)));
            dead.Insert(BufferDocuments.ToDocument(new DeadLetter(
                new InboxMessage("monitor-1", "devices/monitor-1/vitals", Encoding.UTF8.GetBytes("not json"), now, new Dictionary<string, string>()), "InvalidDataFormatException", "x", now)));
        }

        using var store = new GatewayStore(new BufferOptions { Path = path });

        var group = Assert.Single(store.ListGroupDeadLetters());
        Assert.Equal(("device-7", "FhirResourceRejected", now), (group.Key, group.Code, group.DeadLetteredUtc));
        Assert.Equal(payload, group.Payload.ToArray());
        Assert.Equal("monitor-1", Assert.Single(store.ListDeadLetters()).Message.ClientId);
        Assert.Equal(2, store.Stats().DeadLetters);

        Assert.Equal(1, store.ReplayDeadLetters("FhirResourceRejected"));
        var entry = Assert.Single(store.ReadOutbox(10));
        Assert.Equal("device-7", entry.Key);
        Assert.Equal(payload, entry.Payload.ToArray());
        Assert.Empty(store.ReadInbox(10));
        Assert.Empty(store.ListGroupDeadLetters());
    }

    [Fact]
    public void GivenGroupDeadLettersWithHostileKeysPayloadsAndReasons_WhenStoredAndReopened_ThenTheyAreKeptExactlyWithTheReasonBounded()
    {
        var path = Path.Combine(folder, "gateway.db");
        var options = new BufferOptions { Path = path };
        var payload = new byte[] { 0, 0xFF, 0xFE, (byte)'{' };
        var key = "dévice-\u00e9\u4e2d";
        using (var store = new GatewayStore(options))
        {
            store.CompleteNormalization([], [new OutboxEntry(key, payload, now), new OutboxEntry("device-2", payload, now)], []);
            var entries = store.ReadOutbox(10);
            store.MarkDelivered([entries[0].Id], [
                new GroupDeadLetter(key, payload, "ObservationTooLarge", new string('r', 1_000_000), now),
                new GroupDeadLetter("device-2", ReadOnlyMemory<byte>.Empty, "FhirResourceRejected", "\0", now)]);
        }

        using var reopened = new GatewayStore(options);
        var groups = reopened.ListGroupDeadLetters();

        Assert.Equal([key, "device-2"], groups.Select(g => g.Key));
        Assert.Equal(payload, groups[0].Payload.ToArray());
        Assert.Equal(0, groups[1].Payload.Length);
        Assert.True(groups[0].Reason.Length <= DeadLetter.MaxReasonLength);
        Assert.Equal("\0", groups[1].Reason);
        Assert.Equal(["ObservationTooLarge"], reopened.ListGroupDeadLetters("ObservationTooLarge").Select(g => g.Code));
        Assert.Empty(reopened.ListDeadLetters());
        Assert.Equal(2, reopened.Stats().DeadLetters);
        Assert.Equal(0, reopened.Stats().Outbox);
    }
}
