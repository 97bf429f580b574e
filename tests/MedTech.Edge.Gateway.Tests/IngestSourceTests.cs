using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// The ingest seam: the gateway's ingest worker runs every registered <see cref="IIngestSource"/> over the real buffer
/// (group commit into a LiteDB file), starting them after the commit loop and stopping them, in reverse, before it.
/// </summary>
public sealed class IngestSourceTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-ingest-seam-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenTwoSources_WhenTheWorkerRunsAndStops_ThenEachCommitsBeforeItsAckAndTheyStopInReverseBeforeTheCommitLoop()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db") };
        using var store = new GatewayStore(options);
        var inbox = new InboxWriter(store, options);
        var events = new List<string>();
        var hl7 = new RecordingSource("mllp", inbox, events);
        var mqtt = new RecordingSource("mqtt", inbox, events);
        var worker = new IngestWorker(inbox, [mqtt, hl7]);

        await worker.StartAsync(CancellationToken.None);
        await mqtt.ReceiveAsync("\0monitor-1");
        await hl7.ReceiveAsync("MSH|^~\\&|");
        await worker.StopAsync(CancellationToken.None);

        Assert.Equal(["start mqtt", "start mllp", "ack mqtt 1", "ack mllp 2", "stop mllp", "stop mqtt"], events);
        Assert.Equal(["\0monitor-1", "MSH|^~\\&|"], store.ReadInbox(10).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));

        // After the stop the commit loop is gone: a late message cannot be committed, so it cannot be acknowledged.
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => mqtt.ReceiveAsync("late"));
        Assert.Equal(["start mqtt", "start mllp", "ack mqtt 1", "ack mllp 2", "stop mllp", "stop mqtt"], events);
        Assert.Equal(2, store.Stats().Inbox);
    }

    [Fact]
    public async Task GivenASourceWhoseStartFails_WhenTheWorkerStops_ThenTheSourcesStartedSoFarAreStoppedAndTheOthersNeverStarted()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db") };
        using var store = new GatewayStore(options);
        var inbox = new InboxWriter(store, options);
        var events = new List<string>();
        var worker = new IngestWorker(inbox, [new RecordingSource("mqtt", inbox, events), new RecordingSource("broken", inbox, events, failStart: true),
            new RecordingSource("never", inbox, events)]);

        await Assert.ThrowsAsync<IOException>(() => worker.StartAsync(CancellationToken.None));
        await worker.StopAsync(CancellationToken.None);

        Assert.Equal(["start mqtt", "start broken", "stop broken", "stop mqtt"], events);
    }

    /// <summary>A protocol as the seam sees it: it acknowledges (records "ack") only once the inbox committed the message.</summary>
    private sealed class RecordingSource(string name, IInbox inbox, List<string> events, bool failStart = false) : IIngestSource
    {
        public string Name => name;

        public bool IsListening => events.Contains($"start {name}") && !events.Contains($"stop {name}");

        public Task StartAsync()
        {
            events.Add($"start {name}");
            return failStart ? Task.FromException(new IOException("port in use")) : Task.CompletedTask;
        }

        public Task StopAsync()
        {
            events.Add($"stop {name}");
            return Task.CompletedTask;
        }

        public async Task ReceiveAsync(string payload)
        {
            var id = await inbox.AppendAsync(new InboxMessage(name, $"{name}/in", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>()), CancellationToken.None);
            events.Add($"ack {name} {id}");
        }
    }
}
