using System.Text;
using LiteDB;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// A full disk under the buffer (<see cref="FullDiskFile"/>: real files whose growth fails with ENOSPC while the disk is
/// full): nothing is acknowledged while writes fail, what was acknowledged before stays, and writing works again once
/// space is back, without a restart of the gateway.
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-fulldisk-").FullName;
    private readonly FullDisk disk = new();
    private readonly List<FullDiskFile> files = [];

    public void Dispose()
    {
        files.ForEach(f => f.Dispose());
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public Task GivenAFullDisk_WhenSpaceIsBack_ThenLiteDbStillFailsUntilTheStoreIsReopenedAndNothingAcknowledgedIsLost() => OffTheTestContext(() =>
    {
        var options = Options();
        using var store = Open(options);
        store.Append([Message("before")]);

        disk.Full = true;
        Assert.Throws<IOException>(() => store.Append([Message(new string('x', 20_000))]));
        disk.Full = false;

        // The engine that failed a write is never written through again, although there is space.
        Assert.Throws<IOException>(() => store.Append([Message("same engine")]));
        Assert.True(disk.Refused > 0);

        store.Reopen();
        store.Append([Message("after")]);
        Assert.Equal(["before", "after"], Payloads(store));
    });

    [Fact]
    public Task GivenAFullDiskDuringReopen_WhenSpaceIsBackLater_ThenTheNextReopenWorks() => OffTheTestContext(() =>
    {
        var options = Options();
        using var store = Open(options);
        store.Append([Message("before")]);
        disk.Full = true;
        Assert.Throws<IOException>(() => store.Append([Message(new string('x', 20_000))]));

        // Opening may need to write (the log into the file); with the disk still full it fails, and is tried again.
        try
        {
            store.Reopen();
        }
        catch (IOException)
        {
        }

        disk.Full = false;
        store.Reopen();
        store.Append([Message("after")]);
        Assert.Equal(["before", "after"], Payloads(store));
    });

    [Fact]
    public async Task GivenTheInboxWriterOnAFullDisk_WhenSpaceIsBack_ThenItRefusesWhileFullAndCommitsAgainAfterwardsWithoutARestart()
    {
        var options = Options();
        using var store = Open(options);
        var writer = new InboxWriter(store, options) { ReopenInterval = TimeSpan.Zero };
        using var stop = new CancellationTokenSource();
        var commits = writer.RunAsync(stop.Token);
        await writer.AppendAsync(Message("before"), CancellationToken.None);

        disk.Full = true;
        await Assert.ThrowsAsync<IOException>(() => writer.AppendAsync(Message(new string('x', 20_000)), CancellationToken.None));
        Assert.Equal(nameof(IOException), writer.Fault);
        await Assert.ThrowsAnyAsync<Exception>(() => writer.AppendAsync(Message("still full"), CancellationToken.None));
        Assert.NotNull(writer.Fault);

        disk.Full = false;
        await writer.AppendAsync(Message("after"), CancellationToken.None);
        Assert.Null(writer.Fault);
        await stop.CancelAsync();
        await commits;

        Assert.Equal(["before", "after"], Payloads(store).Where(p => p != "still full" && p.Length < 100));
        Assert.Equal(2, store.ReadInbox(100).Count);
    }

    [Fact]
    public Task GivenAFullDisk_WhenReopenedAsANewProcessWould_ThenTheFileIsReadableWithEveryAcknowledgedMessage() => OffTheTestContext(() =>
    {
        var options = Options();
        using (var store = Open(options))
        {
            store.Append([Message("before")]);
            disk.Full = true;
            Assert.Throws<IOException>(() => store.Append([Message(new string('x', 20_000))]));
        }

        disk.Full = false;
        files.ForEach(f => f.Dispose());
        using var reopened = new GatewayStore(options);
        Assert.Equal(["before"], Payloads(reopened));
    });

    /// <summary>
    /// On a thread pool thread, as the gateway's workers run: run as synchronous xunit tests (on xunit's synchronization
    /// context) these hung after a failed write, most likely LiteDB's async log writer waiting for that context.
    /// </summary>
    private static Task OffTheTestContext(Action test) => Task.Run(test);

    private GatewayStore Open(BufferOptions options) => new(options, null, path =>
    {
        var file = new FullDiskFile(path, disk);
        files.Add(file);
        return file;
    });

    private BufferOptions Options() => new() { Path = Path.Combine(folder, "gateway.db"), CommitWindow = TimeSpan.Zero };

    private static List<string> Payloads(GatewayStore store) => store.ReadInbox(100).Select(m => Encoding.UTF8.GetString(m.Payload.Span)).ToList();

    private static InboxMessage Message(string payload) => new("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>());
}
