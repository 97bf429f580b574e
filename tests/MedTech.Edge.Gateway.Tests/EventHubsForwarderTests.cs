using System.Text;
using Azure.Messaging.EventHubs;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// The Event Hubs SDK transport from a real LiteDB outbox up to the wire: the SDK's own batches, a test double for the
/// service (no Event Hubs can run here). Entries are numbers; entry i belongs to device-(i % 7).
/// </summary>
public sealed class EventHubsForwarderTests : IDisposable
{
    private const string Connection = "Endpoint=sb://ward-hub.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0;EntityPath=measurements";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-eventhubs-").FullName;
    private readonly FakeEventHubProducer hub = new();
    private GatewayStore store;

    public EventHubsForwarderTests() => store = Open();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenEntriesOfSeveralDevices_WhenForwarded_ThenEachDeviceGoesInBatchesKeyedByItsIdInOrderAndTheOutboxIsEmpty()
    {
        Fill(300, perBatch: 30);
        // One event per group and room for about ten events a batch: a device's 43 groups take several batches.
        hub.MaxBatchBytes = 10 * (FakeEventHubProducer.EventOverhead + 3);

        var result = await Forwarder(Options(packUpToBytes: 0)).ForwardOnceAsync(default);

        Assert.Equal(new ForwardResult(300, 0), result);
        Assert.Empty(store.ReadOutbox(10));
        Assert.All(hub.Sent, batch => Assert.All(batch.Bodies, body => Assert.Equal(batch.PartitionKey, Device(int.Parse(body)))));
        Assert.All(hub.Sent, batch => Assert.InRange(batch.Events.Count, 1, 10));
        Assert.True(hub.Sent.Count > 7 * 4, $"{hub.Sent.Count} batches");
        foreach (var device in Received().GroupBy(r => r.Key))
        {
            var values = device.Select(r => r.Value).ToList();
            Assert.Equal(values.Order(), values);
        }

        Assert.Equal(Enumerable.Range(0, 300), Received().Select(r => r.Value).Order());
    }

    // Event Hubs refuses partition keys over 128 characters and a device id may be up to 1,024: such a key is hashed,
    // the same for every entry of the device (so they stay in order on one partition), and differs between devices.
    [Fact]
    public async Task GivenDeviceIdsOverThePartitionKeyLimit_WhenForwarded_ThenEachDevicesEntriesShareOneHashedKeyWithinTheLimit()
    {
        var first = new string('a', 1024);
        var second = new string('a', 1023) + "b";
        store.CompleteNormalization([], Enumerable.Range(0, 40).Select(i => new OutboxEntry(i % 2 == 0 ? first : second, Encoding.UTF8.GetBytes($"{i}"), DateTime.UtcNow)).ToList(), []);
        hub.MaxBatchBytes = 5 * (FakeEventHubProducer.EventOverhead + 3);

        var result = await Forwarder(Options(packUpToBytes: 0)).ForwardOnceAsync(default);

        Assert.Equal(new ForwardResult(40, 0), result);
        var keys = Received().GroupBy(r => r.Value % 2).ToDictionary(g => g.Key, g => g.Select(r => r.Key).Distinct().ToList());
        Assert.Equal(EventHubsForwarder.PartitionKey(first), Assert.Single(keys[0]));
        Assert.Equal(EventHubsForwarder.PartitionKey(second), Assert.Single(keys[1]));
        Assert.NotEqual(keys[0][0], keys[1][0]);
        Assert.All(keys.Values, k => Assert.InRange(k[0]!.Length, 1, EventHubsForwarder.MaxPartitionKeyChars));
        Assert.Equal("device-1", EventHubsForwarder.PartitionKey("device-1"));
    }

    [Fact]
    public async Task GivenPacking_WhenForwarded_ThenADevicesGroupsShareOneEventAsTheKafkaPathPacksThemWithTheGatewayAsAnApplicationProperty()
    {
        Fill(70, perBatch: 70);
        var options = Options(packUpToBytes: HubOptions.MaxPackUpToBytes);
        options.GatewayName = "ward-7-gateway";

        await Forwarder(options).ForwardOnceAsync(default);

        var events = hub.Sent.SelectMany(b => b.Events).ToList();
        Assert.Equal(7, events.Count);
        Assert.All(events, e => Assert.Equal("ward-7-gateway", e.Properties[HubOptions.GatewayHeader]));
        // The bytes a consumer gets are PackedMessage's, whatever the protocol.
        var device0 = events.Single(e => PackedMessage.Split(e.EventBody.ToArray()).Select(Value).First() == 0);
        Assert.Equal(PackedMessage.Pack(Enumerable.Range(0, 10).Select(i => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"{i * 7}")).ToList()), device0.EventBody.ToArray());
    }

    [Fact]
    public async Task GivenTheHubFailsEverySend_WhenForwarded_ThenItIsUnavailableTheOutboxIsUntouchedAndTheNextRoundSendsEverything()
    {
        Fill(50, perBatch: 10);
        hub.OnSend = _ => throw new EventHubsException(true, "measurements", "throttled", EventHubsException.FailureReason.ServiceBusy);
        var forwarder = Forwarder(Options());

        var unavailable = await Assert.ThrowsAsync<HubUnavailableException>(() => forwarder.ForwardOnceAsync(default));

        Assert.Contains("ServiceBusy", unavailable.Message, StringComparison.Ordinal);
        Assert.Equal(50, store.ReadOutbox(100).Count);
        hub.OnSend = null;
        Assert.Equal(new ForwardResult(50, 0), await forwarder.ForwardOnceAsync(default));
        Assert.Empty(store.ReadOutbox(100));
        Assert.Equal(Enumerable.Range(0, 50), Received().Select(r => r.Value).Order());
    }

    [Fact]
    public async Task GivenOneDevicesSendFails_WhenForwarded_ThenItsOutboxBatchStaysAndIsSentAgainWhileTheOthersAreDelivered()
    {
        store.CompleteNormalization([], [Entry(3), Entry(0)], []);
        store.CompleteNormalization([], [Entry(1), Entry(2)], []);
        hub.OnSend = batch =>
        {
            if (batch.PartitionKey == "device-3")
            {
                throw new TimeoutException();
            }
        };
        var forwarder = Forwarder(Options(packUpToBytes: 0));

        var partial = await forwarder.ForwardOnceAsync(default);

        // Entry 0 was acknowledged, but its outbox batch holds entry 3: that batch stays whole; the other is delivered.
        Assert.Equal(new ForwardResult(3, 0), partial);
        Assert.Equal([3, 0], store.ReadOutbox(100).Select(e => Value(e.Payload)));
        hub.OnSend = null;
        Assert.Equal(2, (await forwarder.ForwardOnceAsync(default)).Acknowledged);
        Assert.Empty(store.ReadOutbox(100));
        Assert.Equal([0, 1, 2, 3], Received().Select(r => r.Value).Distinct().Order());
    }

    [Fact]
    public async Task GivenAGroupLargerThanAnEventCanBe_WhenForwarded_ThenItAloneIsADeadLetterKeptByteForByteAndTheRestIsDelivered()
    {
        var huge = new byte[300_000];
        Array.Fill(huge, (byte)'7');
        store.CompleteNormalization([], [Entry(0), new OutboxEntry("device-1", huge, DateTime.UtcNow), Entry(7)], []);
        hub.MaxBatchBytes = 256 * 1024;

        var result = await Forwarder(Options()).ForwardOnceAsync(default);

        Assert.Equal(new ForwardResult(2, 1), result);
        Assert.Empty(store.ReadOutbox(10));
        var deadLetter = Assert.Single(store.ListGroupDeadLetters());
        Assert.Equal((OutboxForwarder.RejectedCode, "device-1"), (deadLetter.Code, deadLetter.Key));
        Assert.Equal(huge, deadLetter.Payload.ToArray());
        Assert.Equal([0, 7], Received().Select(r => r.Value));
    }

    [Fact]
    public async Task GivenTheServiceRefusesABatchAsTooLarge_WhenForwarded_ThenItsEventsGoAloneAndOnlyTheOneTooLargeAloneIsADeadLetter()
    {
        Fill(21, perBatch: 21);
        hub.OnSend = batch =>
        {
            if (batch.Bodies.Contains("14"))
            {
                throw new EventHubsException(false, "measurements", "too large", EventHubsException.FailureReason.MessageSizeExceeded);
            }
        };

        var result = await Forwarder(Options(packUpToBytes: 0)).ForwardOnceAsync(default);

        Assert.Equal(new ForwardResult(20, 1), result);
        Assert.Equal("14", Encoding.UTF8.GetString(Assert.Single(store.ListGroupDeadLetters()).Payload.Span));
        Assert.Equal(Enumerable.Range(0, 21).Where(i => i != 14), Received().Select(r => r.Value).Order());
        Assert.Empty(store.ReadOutbox(10));
    }

    [Fact]
    public async Task GivenTheHubIsUnauthorized_WhenForwarded_ThenNothingIsADeadLetterAndEverythingStays()
    {
        Fill(20, perBatch: 20);
        hub.OnSend = _ => throw new UnauthorizedAccessException("no Send claim");

        await Assert.ThrowsAsync<HubUnavailableException>(() => Forwarder(Options()).ForwardOnceAsync(default));

        Assert.Empty(store.ListGroupDeadLetters());
        Assert.Equal(20, store.ReadOutbox(100).Count);
    }

    [Fact]
    public async Task GivenAKillMidSend_WhenTheGatewayRestarts_ThenEverythingIsSentAgainAndNothingIsLost()
    {
        Fill(300, perBatch: 30);
        hub.Hold = true;
        using var kill = new CancellationTokenSource();
        var oneDeviceAtATime = Options();
        oneDeviceAtATime.EventHubs.MaxConcurrentSends = 1;
        var sending = Forwarder(oneDeviceAtATime).ForwardOnceAsync(kill.Token);
        await hub.SendStarted.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The hub has some events; the process dies before it hears back (the task is abandoned, the file reopened).
        await kill.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
        var arrivedBeforeTheKill = Received().Count;
        store.Dispose();
        store = Open();
        hub.Hold = false;

        Assert.Equal(300, store.ReadOutbox(1000).Count);
        Assert.Equal(300, (await Forwarder(Options()).ForwardOnceAsync(default)).Acknowledged);
        Assert.Empty(store.ReadOutbox(1000));
        Assert.InRange(arrivedBeforeTheKill, 1, 299);
        Assert.Equal(Enumerable.Range(0, 300), Received().Select(r => r.Value).Distinct().Order());
    }

    private GatewayStore Open() => new(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });

    private EventHubsForwarder Forwarder(HubOptions options) => new(store, hub, options, NullLogger<EventHubsForwarder>.Instance);

    private static HubOptions Options(int packUpToBytes = 64 * 1024) =>
        new() { Transport = HubTransport.EventHubs, ConnectionString = Connection, PackUpToBytes = packUpToBytes, GatewayName = "" };

    private void Fill(int count, int perBatch, int from = 0)
    {
        foreach (var batch in Enumerable.Range(from, count).Chunk(perBatch))
        {
            store.CompleteNormalization([], batch.Select(Entry).ToList(), []);
        }
    }

    private static string Device(int i) => $"device-{i % 7}";

    private static OutboxEntry Entry(int i) => new(Device(i), Encoding.UTF8.GetBytes($"{i}"), DateTime.UtcNow);

    private static int Value(ReadOnlyMemory<byte> payload) => int.Parse(Encoding.UTF8.GetString(payload.Span));

    /// <summary>The entries the hub accepted, unpacked, in the order they arrived, with the partition key they went under.</summary>
    private List<(string? Key, int Value)> Received() =>
        hub.Sent.SelectMany(b => b.Events.SelectMany(e => PackedMessage.Split(e.EventBody.ToArray())).Select(v => (b.PartitionKey, Value(v)))).ToList();
}
