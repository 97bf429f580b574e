using System.Security.Cryptography;
using System.Text;
using MedTech.Edge.Buffer;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// Review: the file an operator inspects is most often one whose gateway was killed, so LiteDB's log beside it still
/// holds the last commits. Inspection must show them and change neither file.
/// </summary>
public sealed class ReviewKilledBufferInspectionTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-cli-killed-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData("stats")]
    [InlineData("list")]
    public void GivenTheFilesOfAKilledGateway_WhenInspected_ThenTheLoggedCommitsShowAndNotOneByteChanged(string command)
    {
        var live = Path.Combine(folder, "live");
        var copy = Path.Combine(folder, "copy");
        Directory.CreateDirectory(live);
        var control = Path.Combine(folder, "control");
        Directory.CreateDirectory(copy);
        Directory.CreateDirectory(control);
        using (var store = new GatewayStore(new BufferOptions { Path = Path.Combine(live, "gateway.db") }))
        {
            foreach (var i in new[] { 1, 2, 3, 4 })
            {
                store.Append([new InboxMessage("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes($"m-{i}"), DateTime.UtcNow, new Dictionary<string, string>())]);
            }

            var last = store.ReadInbox(100)[^1];
            store.CompleteNormalization([last.Id], [], [new DeadLetter(last, "DroppedEvent", "No template matched.", DateTime.UtcNow)]);

            // What the disk holds if the process is killed now: the committed pages, in the file or in its log. Twice:
            // the gateway's own start on one copy is the control for what inspection must show on the other.
            foreach (var to in new[] { copy, control })
            {
                foreach (var file in Directory.GetFiles(live))
                {
                    using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                    using var target = File.Create(Path.Combine(to, Path.GetFileName(file)));
                    source.CopyTo(target);
                }
            }
        }

        using (var restarted = new GatewayStore(new BufferOptions { Path = Path.Combine(control, "gateway.db") }))
        {
            Assert.Equal((3L, 1L), (restarted.Stats().Inbox, restarted.Stats().DeadLetters));
        }

        var path = Path.Combine(copy, "gateway.db");
        var before = Directory.GetFiles(copy).Order().Select(f => (Path.GetFileName(f), Sha(f))).ToList();

        var (exit, output, error) = command == "list" ? Run("deadletter", "list", "--buffer", path) : Run("buffer", "stats", "--buffer", path);

        Assert.True(exit == 0, error);
        if (command == "list")
        {
            Assert.Contains("DroppedEvent", output, StringComparison.Ordinal);
        }
        else
        {
            // Three messages wait in the inbox and one is a dead letter.
            using var stats = System.Text.Json.JsonDocument.Parse(output);
            var values = stats.RootElement.EnumerateObject().ToDictionary(p => p.Name.ToLowerInvariant(), p => p.Value.ToString());
            Assert.Equal(("3", "1"), (values["inbox"], values["deadletters"]));
        }
        Assert.Equal(before, Directory.GetFiles(copy).Order().Select(f => (Path.GetFileName(f), Sha(f))).ToList());
    }

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
