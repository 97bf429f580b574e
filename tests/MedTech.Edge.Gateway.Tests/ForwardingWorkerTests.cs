using System.Text;
using Azure.Messaging.EventHubs;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>The forwarding worker over the Event Hubs SDK transport: a real outbox, the SDK's batches, a test double for the service.</summary>
public sealed class ForwardingWorkerTests : IDisposable
{
    private const string Connection = "Endpoint=sb://ward-hub.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0;EntityPath=measurements";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-forwarding-").FullName;
    private readonly GatewayStore store;
    private readonly GatewayMetrics metrics;

    public ForwardingWorkerTests()
    {
        store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });
        metrics = new GatewayMetrics(store);
    }

    public void Dispose()
    {
        metrics.Dispose();
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenTheHubFailsFiveSends_WhenTheWorkerRuns_ThenTheOutboxStaysWholeTheBackoffDoublesToItsCapAndThenEverythingIsDelivered()
    {
        store.CompleteNormalization([], Enumerable.Range(0, 40).Select(i => new OutboxEntry($"device-{i % 4}", Encoding.UTF8.GetBytes($"{i}"), DateTime.UtcNow)).ToList(), []);
        var options = new HubOptions { Transport = HubTransport.EventHubs, ConnectionString = Connection, MaxBackoff = TimeSpan.FromSeconds(1) };
        var hub = new FakeEventHubProducer();
        var outboxDuringFailures = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.OnSend = _ =>
        {
            outboxDuringFailures.Enqueue(store.ReadOutbox(100).Count);
            if (hub.SendCalls <= 5 * 4)
            {
                throw new EventHubsException(true, "measurements", "busy", EventHubsException.FailureReason.ServiceBusy);
            }
        };
        var health = new ModuleHealth();
        var time = new RecordingTimeProvider();
        using var worker = new ForwardingWorker(new EventHubsForwarder(store, hub, options, NullLogger<EventHubsForwarder>.Instance), metrics, health,
            Options.Create(options), NullLogger<ForwardingWorker>.Instance, time);

        await worker.StartAsync(default);
        await Eventually.HoldsAsync(() => store.ReadOutbox(100).Count == 0, TimeSpan.FromSeconds(30));
        await worker.StopAsync(default);

        // Four devices, one batch each per round: rounds 1-5 fail, round 6 delivers. The outbox was whole at every failed send.
        Assert.All(outboxDuringFailures.Take(20), count => Assert.Equal(40, count));
        Assert.Equal([200, 400, 800, 1000, 1000], time.Waits.Take(5).Select(w => w.TotalMilliseconds));
        Assert.Equal(Enumerable.Range(0, 40), hub.Sent.SelectMany(b => b.Events).SelectMany(e => PackedMessage.Split(e.EventBody.ToArray())).Select(v => int.Parse(Encoding.UTF8.GetString(v.Span))).Order());
        Assert.Equal(HealthStatus.Healthy, health.Snapshot()["hub"].Status);
    }
}
