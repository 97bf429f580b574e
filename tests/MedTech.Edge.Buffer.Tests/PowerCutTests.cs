using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// A power cut, simulated at the file level: LiteDB runs on real files, and the files a cut would leave are their
/// content at the last flush to disk. The power is "cut" after each of 20 appends of 50 messages; a store opened on
/// what each cut left must hold every message <see cref="GatewayStore.Append"/> had returned for, that is, every
/// message the gateway had acknowledged.
/// </summary>
public sealed class PowerCutTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-powercut-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenForceToDisk_WhenThePowerIsCutAfterAnyAppend_ThenEveryAcknowledgedMessageSurvives()
    {
        foreach (var (acknowledged, survived) in AppendAndCutPowerAfterEach(forceToDisk: true))
        {
            Assert.Equal(acknowledged, survived);
        }
    }

    [Fact]
    public void GivenForceToDisk_WhenAnAppendReturns_ThenTheLogOnDiskHoldsNothingARestartWouldReplayOverTheNewerDataFile()
    {
        // LiteDB 5.0.20's checkpoint empties the log without a flush, and its log writer flushes only after letting the
        // checkpoint go on: a cut then left the log of an earlier commit on disk, and a restart replayed its pages over
        // the newer data file, hiding acknowledged messages (the test above failed so once, from seq 800 on). Whatever
        // the writer thread's timing, the store leaves the emptied log flushed before it returns.
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), ForceToDisk = true };
        using var data = new PowerCutFile(options.Path);
        using var log = new PowerCutFile(Path.Combine(folder, "gateway-log.db"));
        using var store = new GatewayStore(options, null, path => path.EndsWith("-log.db", StringComparison.Ordinal) ? log : data);
        for (var round = 0; round < 50; round++)
        {
            store.Append([new InboxMessage("monitor-1", "devices/monitor-1", Encoding.UTF8.GetBytes($"{{\"seq\":{round}}}"), DateTime.UtcNow, new Dictionary<string, string>())]);
            Assert.Empty(log.Durable);
        }
    }

    [Fact]
    public void GivenForceToDiskOff_WhenThePowerIsCutAfterEachAppend_ThenAcknowledgedMessagesAreLostButNothingIsCorrupted()
    {
        // The same cuts without the checkpoint: LiteDB's commit is not on disk when it returns.
        var cuts = AppendAndCutPowerAfterEach(forceToDisk: false);

        Assert.Contains(cuts, cut => cut.Survived.Count < cut.Acknowledged.Count);
        Assert.All(cuts, cut => Assert.Equal(cut.Acknowledged.Take(cut.Survived.Count), cut.Survived));
    }

    private List<(List<string> Acknowledged, List<string> Survived)> AppendAndCutPowerAfterEach(bool forceToDisk)
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), ForceToDisk = forceToDisk };
        var acknowledged = new List<string>();
        var cuts = new List<(int Acknowledged, byte[] Data, byte[] Log)>();
        using (var data = new PowerCutFile(options.Path))
        using (var log = new PowerCutFile(Path.Combine(folder, "gateway-log.db")))
        using (var store = new GatewayStore(options, null, path => path.EndsWith("-log.db", StringComparison.Ordinal) ? log : data))
        {
            for (var round = 0; round < 20; round++)
            {
                var messages = Enumerable.Range(0, 50).Select(i => $"{{\"seq\":{(round * 50) + i}}}").ToList();
                store.Append(messages.Select(m => new InboxMessage("monitor-1", "devices/monitor-1", Encoding.UTF8.GetBytes(m), DateTime.UtcNow, new Dictionary<string, string>())).ToList());
                acknowledged.AddRange(messages);
                // The cut: whatever was flushed by now is all the disk has.
                cuts.Add((acknowledged.Count, data.Durable, log.Durable));
            }
        }

        return cuts.Select((cut, i) => (acknowledged.Take(cut.Acknowledged).ToList(), Reopen($"cut-{i}", cut.Data, cut.Log))).ToList();
    }

    private List<string> Reopen(string name, byte[] data, byte[] log)
    {
        var path = Path.Combine(folder, name, "gateway.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data);
        File.WriteAllBytes(Path.Combine(folder, name, "gateway-log.db"), log);
        using var store = new GatewayStore(new BufferOptions { Path = path });
        return store.ReadInbox(10_000).Select(m => Encoding.UTF8.GetString(m.Payload.Span)).ToList();
    }
}
