using System.Text;

namespace MedTech.Edge.Buffer.Tests;

public sealed class InboxWriterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-inbox-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenManyConcurrentMessages_WhenAppended_ThenEachCompletesOnlyOnceStoredAndAllAreThereInOneOrder()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), CommitBatchSize = 100 };
        using var store = new GatewayStore(options);
        var writer = new InboxWriter(store, options);
        using var stop = new CancellationTokenSource();
        var loop = writer.RunAsync(stop.Token);

        var ids = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => Task.Run(() => writer.AppendAsync(Message(i), default))));
        await stop.CancelAsync();
        await loop;

        Assert.Equal(1000, ids.Distinct().Count());
        var stored = store.ReadInbox(2000);
        Assert.Equal(ids.Order(), stored.Select(m => m.Id));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => i.ToString()).Order(), stored.Select(m => Encoding.UTF8.GetString(m.Payload.Span)).Order());
    }

    [Fact]
    public async Task GivenAFullBuffer_WhenAppended_ThenTheAppendFaultsSoTheDeviceIsNotAcknowledged()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 1 };
        using var store = new GatewayStore(options);
        var writer = new InboxWriter(store, options);
        using var stop = new CancellationTokenSource();
        var loop = writer.RunAsync(stop.Token);

        await writer.AppendAsync(Message(1), default);
        await Assert.ThrowsAsync<BufferFullException>(() => writer.AppendAsync(Message(2), default));

        await stop.CancelAsync();
        await loop;
        Assert.Single(store.ReadInbox(10));
    }

    private static InboxMessage Message(int i) =>
        new("monitor-1", "ward/icu/monitor-1", Encoding.UTF8.GetBytes(i.ToString()), DateTime.UtcNow, new Dictionary<string, string>());
}
