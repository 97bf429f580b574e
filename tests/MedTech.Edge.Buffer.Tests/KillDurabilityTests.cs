using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// What a process kill leaves is what the OS has. A message is acknowledged as soon as Append returns, so at
/// that moment its commit must be in the file or its log as another process reads them, not in LiteDB's writer queue.
/// </summary>
public sealed class KillDurabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-kill-durable-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAnAppendThatReturned_WhenTheFilesAreReadAtThatMoment_ThenTheMessageIsInThem()
    {
        var live = Path.Combine(folder, "live");
        Directory.CreateDirectory(live);
        var lost = 0;
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(live, "gateway.db") });
        for (var i = 1; i <= 30; i++)
        {
            store.Append([new InboxMessage("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes($"m-{i}"), DateTime.UtcNow, new Dictionary<string, string>())]);

            // The disk as a kill right after the PUBACK would leave it.
            var copy = Path.Combine(folder, $"copy-{i}");
            Directory.CreateDirectory(copy);
            foreach (var file in Directory.GetFiles(live))
            {
                using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var target = File.Create(Path.Combine(copy, Path.GetFileName(file)));
                source.CopyTo(target);
            }

            using var restarted = new GatewayStore(new BufferOptions { Path = Path.Combine(copy, "gateway.db") });
            if (restarted.Stats().Inbox != i)
            {
                lost++;
            }
        }

        Assert.Equal(0, lost);
    }
}
