using System.Runtime.CompilerServices;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Producer;

namespace MedTech.Edge.Testing;

/// <summary>
/// A test double of the Event Hubs SDK producer up to the wire: batches are the SDK's own (EventHubsModelFactory) with
/// a byte limit, a send records the batch as the hub would have it, or fails as <see cref="OnSend"/> says, or hangs
/// until cancelled while <see cref="Hold"/> is set (a kill mid-send: the hub has the events, the gateway never hears).
/// </summary>
public sealed class FakeEventHubProducer : EventHubProducerClient
{
    /// <summary>Per-event overhead counted against the batch size, as AMQP framing would be.</summary>
    public const int EventOverhead = 64;

    private readonly ConditionalWeakTable<EventDataBatch, Batch> batches = [];
    private readonly Lock gate = new();
    private readonly List<Batch> sent = [];

    public long MaxBatchBytes { get; set; } = 1_000_000;

    /// <summary>Called before a send is accepted: throw to fail it.</summary>
    public Action<Batch>? OnSend { get; set; }

    /// <summary>While set, a send records its batch as arrived, signals <see cref="SendStarted"/>, then waits to be cancelled.</summary>
    public bool Hold { get; set; }

    public TaskCompletionSource SendStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int SendCalls { get; private set; }

    /// <summary>The batches the hub accepted, in the order they were accepted.</summary>
    public IReadOnlyList<Batch> Sent
    {
        get
        {
            lock (gate)
            {
                return sent.ToList();
            }
        }
    }

    public override ValueTask<EventDataBatch> CreateBatchAsync(CreateBatchOptions options, CancellationToken cancellationToken = default)
    {
        var events = new List<EventData>();
        long bytes = 0;
        var batch = EventHubsModelFactory.EventDataBatch(MaxBatchBytes, events, options, data =>
        {
            var size = data.EventBody.ToMemory().Length + EventOverhead;
            if (bytes + size > MaxBatchBytes)
            {
                return false;
            }

            bytes += size;
            return true;
        });
        batches.Add(batch, new Batch(options.PartitionKey, events));
        return ValueTask.FromResult(batch);
    }

    public override async Task SendAsync(EventDataBatch eventBatch, CancellationToken cancellationToken = default)
    {
        var batch = batches.TryGetValue(eventBatch, out var known) ? known with { Events = known.Events.ToList() } : throw new InvalidOperationException("Not a batch of this producer.");
        lock (gate)
        {
            SendCalls++;
        }

        OnSend?.Invoke(batch);
        lock (gate)
        {
            sent.Add(batch);
        }

        if (Hold)
        {
            SendStarted.TrySetResult();
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A batch as the hub got it: its partition key and events.</summary>
    public sealed record Batch(string? PartitionKey, IReadOnlyList<EventData> Events)
    {
        public IEnumerable<string> Bodies => Events.Select(e => e.EventBody.ToString());
    }
}
