using System.Text;
using System.Text.Json;
using MedTech.Edge.Buffer;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

public sealed class BufferCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-cli-buffer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenDeadLetters_WhenListedStatedAndReplayedByReason_ThenTheCommandsShowAndMoveThemWithoutPayloads()
    {
        var path = Path.Combine(folder, "gateway.db");
        using (var store = new GatewayStore(new BufferOptions { Path = path }))
        {
            store.Append([Message("secret-1"), Message("secret-2")]);
            var inbox = store.ReadInbox(10);
            store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [],
                [new DeadLetter(inbox[0], "DroppedEvent", "No template matched.", DateTime.UtcNow),
                 new DeadLetter(inbox[1], "InvalidDataFormatException", "Not JSON.", DateTime.UtcNow)]);
        }

        var (listExit, list, _) = Run("deadletter", "list", "--buffer", path);
        var (replayExit, replay, _) = Run("deadletter", "replay", "--buffer", path, "--reason", "DroppedEvent");
        var (statsExit, stats, _) = Run("buffer", "stats", "--buffer", path);

        Assert.Equal((0, 0, 0), (listExit, replayExit, statsExit));
        using var listed = JsonDocument.Parse(list);
        Assert.Equal(["DroppedEvent", "InvalidDataFormatException"], listed.RootElement.EnumerateArray().Select(d => d.GetProperty("code").GetString()));
        Assert.DoesNotContain("secret", list);
        Assert.Contains("1 dead letter(s) moved back to the inbox.", replay);
        using var counts = JsonDocument.Parse(stats);
        Assert.Equal((1, 1), (counts.RootElement.GetProperty("inbox").GetInt32(), counts.RootElement.GetProperty("deadLetters").GetInt32()));
    }

    [Fact]
    public void GivenAGroupDeadLetterBesideAMessageOne_WhenListedAndReplayed_ThenTheGroupShowsItsKeyAndGoesBackToTheOutbox()
    {
        var path = Path.Combine(folder, "gateway.db");
        using (var store = new GatewayStore(new BufferOptions { Path = path }))
        {
            store.Append([Message("secret-1")]);
            var inbox = store.ReadInbox(10);
            store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [new OutboxEntry("device-7", Encoding.UTF8.GetBytes("secret-group"), DateTime.UtcNow)],
                [new DeadLetter(inbox[0], "DroppedEvent", "No template matched.", DateTime.UtcNow)]);
            var entry = Assert.Single(store.ReadOutbox(10));
            store.MarkDelivered([entry.Id], [new GroupDeadLetter(entry.Key, entry.Payload, "FhirResourceRejected", "422 from the server.", DateTime.UtcNow)]);
        }

        var (listExit, list, _) = Run("deadletter", "list", "--buffer", path);
        var (replayExit, replay, _) = Run("deadletter", "replay", "--buffer", path, "--reason", "FhirResourceRejected");
        var (_, stats, _) = Run("buffer", "stats", "--buffer", path);

        Assert.Equal((0, 0), (listExit, replayExit));
        using var listed = JsonDocument.Parse(list);
        var rows = listed.RootElement.EnumerateArray().ToList();
        Assert.Equal([("message", "DroppedEvent"), ("group", "FhirResourceRejected")], rows.Select(r => (r.GetProperty("kind").GetString(), r.GetProperty("code").GetString())));
        Assert.Equal(("device-7", 12), (rows[1].GetProperty("key").GetString(), rows[1].GetProperty("payloadBytes").GetInt32()));
        Assert.False(rows[1].TryGetProperty("topic", out _));
        Assert.DoesNotContain("secret", list);
        Assert.Contains("1 dead letter(s) moved back", replay);
        using var counts = JsonDocument.Parse(stats);
        Assert.Equal((0, 1, 1), (counts.RootElement.GetProperty("inbox").GetInt32(), counts.RootElement.GetProperty("outbox").GetInt32(), counts.RootElement.GetProperty("deadLetters").GetInt32()));
    }

    [Fact]
    public void GivenNoBufferFile_WhenStated_ThenExitTwo() =>
        Assert.Equal(2, Run("buffer", "stats", "--buffer", Path.Combine(folder, "missing.db")).Exit);

    private static InboxMessage Message(string payload) =>
        new("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>());
}
