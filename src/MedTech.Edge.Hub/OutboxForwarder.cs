using Confluent.Kafka;
using MedTech.Edge.Buffer;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Hub;

/// <summary>
/// Forward: sends the oldest outbox entries to the hub, keyed by device id (one partition per device, so its data
/// stays in order), and marks a batch delivered only after the hub acknowledged every entry of it. An entry sent but
/// not acknowledged is sent again (duplicates are idempotent downstream; loss is not possible).
/// Two rounds are in flight: the next one is read and produced while the hub acknowledges the previous one, so a
/// backlog drains at the producer's pace rather than one acknowledgement round trip per round. Not thread-safe: one
/// caller drives it.
/// </summary>
public sealed partial class OutboxForwarder(GatewayStore store, IProducer<string, byte[]> producer, HubOptions options, ILogger<OutboxForwarder> logger)
{
    private const int RoundsInFlight = 2;

    private readonly string topic = HubClientConfig.Topic(options);
    private readonly Queue<Round> inFlight = new();

    /// <summary>One round: returns how many entries the hub acknowledged (0 when the outbox is empty).</summary>
    /// <exception cref="HubUnavailableException">Entries were waiting and the hub acknowledged none of them.</exception>
    public async Task<int> ForwardOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (inFlight.Count < RoundsInFlight)
            {
                var entries = store.ReadOutbox(options.ForwardBatchSize, afterBatchId: inFlight.LastOrDefault()?.LastBatchId ?? 0);
                if (entries.Count == 0)
                {
                    break;
                }

                inFlight.Enqueue(Send(entries, cancellationToken));
            }

            if (inFlight.Count == 0)
            {
                return 0;
            }

            var round = inFlight.Peek();
            // librdkafka reports every message by message.timeout.ms (DeliveryTimeout); the margin covers its clock.
            await round.Done.Task.WaitAsync(options.DeliveryTimeout + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            inFlight.Dequeue();
            var acknowledged = Complete(round);
            if (round.LastError is { } error)
            {
                // Later rounds were sent past an entry that failed; start again from the oldest undelivered batch.
                inFlight.Clear();
                if (acknowledged == 0)
                {
                    throw new HubUnavailableException($"The hub acknowledged none of {round.Entries.Count} entries (last error: {error}).");
                }
            }

            Log.Forwarded(logger, acknowledged, round.Entries.Count - acknowledged);
            return acknowledged;
        }
        catch (Exception ex) when (ex is not HubUnavailableException)
        {
            // Timed out or cancelled: what is in flight may or may not arrive; it stays in the outbox and is sent again.
            inFlight.Clear();
            throw;
        }
    }

    /// <summary>Marks delivered the batches of the round that the hub has whole; returns how many entries it acknowledged.</summary>
    private int Complete(Round round)
    {
        var incomplete = round.Entries.Where((_, i) => !round.Delivered[i]).Select(e => e.Id).ToHashSet();
        store.MarkDelivered(round.Entries.Select(e => e.Id).Distinct().Where(id => !incomplete.Contains(id)).ToList());
        return round.Delivered.Count(d => d);
    }

    private Round Send(IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
    {
        var round = new Round(entries);
        for (var i = 0; i < entries.Count; i++)
        {
            var index = i;
            var message = new Message<string, byte[]> { Key = entries[i].Key, Value = entries[i].Payload.ToArray() };
            try
            {
                Produce(message, report => round.Report(index, report.Error), cancellationToken);
            }
            catch (ProduceException<string, byte[]> ex)
            {
                // Refused locally (e.g. too large): it stays in the outbox; the others go on.
                round.Report(index, ex.Error);
            }
        }

        return round;
    }

    /// <summary>Queues one message; when librdkafka's local queue is full, lets it drain and tries again.</summary>
    private void Produce(Message<string, byte[]> message, Action<DeliveryReport<string, byte[]>> onDelivery, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, message, onDelivery);
                return;
            }
            catch (ProduceException<string, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                cancellationToken.ThrowIfCancellationRequested();
                producer.Poll(TimeSpan.FromMilliseconds(100));
            }
        }
    }

    /// <summary>Entries sent together and their delivery reports (which arrive on librdkafka's thread).</summary>
    private sealed class Round(IReadOnlyList<OutboxEntry> entries)
    {
        private int pending = entries.Count;

        public IReadOnlyList<OutboxEntry> Entries => entries;

        public long LastBatchId => entries[^1].Id;

        public bool[] Delivered { get; } = new bool[entries.Count];

        public ErrorCode? LastError { get; private set; }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Report(int index, Error error)
        {
            if (error.IsError)
            {
                LastError = error.Code;
            }
            else
            {
                Delivered[index] = true;
            }

            if (Interlocked.Decrement(ref pending) == 0)
            {
                Done.TrySetResult();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Debug, Message = "Forwarded {Delivered} outbox entries to the hub; {Failed} stay for the next round.")]
        public static partial void Forwarded(ILogger logger, int delivered, int failed);
    }
}
