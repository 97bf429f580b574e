using Confluent.Kafka;
using MedTech.Edge.Buffer;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Hub;

/// <summary>
/// Forward: sends the oldest outbox entries to the hub, keyed by device id (one partition per device, so its data
/// stays in order), and deletes an entry only after the hub acknowledged it. An entry sent but not acknowledged is
/// sent again next round (duplicates are idempotent downstream; loss is not possible).
/// </summary>
public sealed partial class OutboxForwarder(GatewayStore store, IProducer<string, byte[]> producer, HubOptions options, ILogger<OutboxForwarder> logger)
{
    private readonly string topic = HubClientConfig.Topic(options);

    /// <summary>One round: returns how many entries the hub acknowledged (0 when the outbox is empty).</summary>
    /// <exception cref="HubUnavailableException">Entries were waiting and the hub acknowledged none of them.</exception>
    public async Task<int> ForwardOnceAsync(CancellationToken cancellationToken)
    {
        var entries = store.ReadOutbox(options.ForwardBatchSize);
        if (entries.Count == 0)
        {
            return 0;
        }

        var delivered = new bool[entries.Count];
        var pending = entries.Count;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ErrorCode? lastError = null;
        for (var i = 0; i < entries.Count; i++)
        {
            var index = i;
            var message = new Message<string, byte[]> { Key = entries[i].Key, Value = entries[i].Payload.ToArray() };
            void Report(Error error)
            {
                if (error.IsError)
                {
                    lastError = error.Code;
                }
                else
                {
                    delivered[index] = true;
                }

                if (Interlocked.Decrement(ref pending) == 0)
                {
                    done.TrySetResult();
                }
            }

            try
            {
                Produce(message, report => Report(report.Error), cancellationToken);
            }
            catch (ProduceException<string, byte[]> ex)
            {
                // Refused locally (e.g. too large): it stays in the outbox; the others go on.
                Report(ex.Error);
            }
        }

        // librdkafka reports every message by message.timeout.ms (DeliveryTimeout); the margin covers its clock.
        await done.Task.WaitAsync(options.DeliveryTimeout + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        // A batch leaves the outbox only when the hub has every entry of it; its acknowledged entries are sent again.
        var complete = entries.Select((e, i) => (e.Id, Delivered: delivered[i])).GroupBy(e => e.Id)
            .Where(batch => batch.All(e => e.Delivered)).Select(batch => batch.Key).ToList();
        store.DeleteOutbox(complete);
        var acknowledged = delivered.Count(d => d);
        if (acknowledged == 0)
        {
            throw new HubUnavailableException($"The hub acknowledged none of {entries.Count} entries (last error: {lastError}).");
        }

        Log.Forwarded(logger, acknowledged, entries.Count - acknowledged);
        return acknowledged;
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

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Debug, Message = "Forwarded {Delivered} outbox entries to the hub; {Failed} stay for the next round.")]
        public static partial void Forwarded(ILogger logger, int delivered, int failed);
    }
}
