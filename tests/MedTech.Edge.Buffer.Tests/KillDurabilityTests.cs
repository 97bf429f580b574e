using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// What a process kill leaves is what the OS has: the files as another process reads them at that moment, not what
/// is still in LiteDB's disk-writer queue (5.0.20 hands a commit to a background writer and returns). A message is
/// acknowledged as soon as Append returns, and a stage starts on a message as soon as its in-hand record is set, so at
/// each of those moments the files must already hold them.
/// </summary>
public sealed class KillDurabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-kill-durable-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAnAppendThatReturned_WhenTheFilesAreReadAtThatMoment_ThenTheMessageIsInThem() => AssertEachStepSurvivesAKill(
        (store, i) => store.Append([new InboxMessage("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes($"m-{i}"), DateTime.UtcNow, new Dictionary<string, string>())]),
        (restarted, i) => restarted.Stats().Inbox == i);

    /// <summary>The in-hand record is the whole crash-loop guard: a message that kills at once must not die before its record exists.</summary>
    [Fact]
    public void GivenSetInHandReturned_WhenTheFilesAreReadAtThatMoment_ThenTheRecordIsInThem() => AssertEachStepSurvivesAKill(
        (store, i) => store.SetInHand(GatewayStore.NormalizationInHand, new InHand(i, i, 0, i)),
        (restarted, i) => restarted.ReadInHand(GatewayStore.NormalizationInHand)?.FirstId == i);

    /// <summary>Runs <paramref name="step"/> 30 times, each time copying the buffer's files as a kill would leave them and checking the copy.</summary>
    private void AssertEachStepSurvivesAKill(Action<GatewayStore, int> step, Func<GatewayStore, int, bool> survived)
    {
        var live = Path.Combine(folder, "live");
        Directory.CreateDirectory(live);
        var lost = 0;
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(live, "gateway.db") });
        for (var i = 1; i <= 30; i++)
        {
            step(store, i);
            var copy = Path.Combine(folder, $"copy-{i}");
            Directory.CreateDirectory(copy);
            foreach (var file in Directory.GetFiles(live))
            {
                using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var target = File.Create(Path.Combine(copy, Path.GetFileName(file)));
                source.CopyTo(target);
            }

            using var restarted = new GatewayStore(new BufferOptions { Path = Path.Combine(copy, "gateway.db") });
            if (!survived(restarted, i))
            {
                lost++;
            }
        }

        Assert.Equal(0, lost);
    }
}
