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
    public void GivenNoBufferFile_WhenStated_ThenExitTwo() =>
        Assert.Equal(2, Run("buffer", "stats", "--buffer", Path.Combine(folder, "missing.db")).Exit);

    private static InboxMessage Message(string payload) =>
        new("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>());
}
