using Confluent.Kafka;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Forward: sends the oldest outbox entries to the hub, keyed by device id (one partition per device, so its data
/// stays in order), a device's entries of a round packed into few messages (<see cref="PackedMessage"/>), and marks a
/// batch delivered only after the hub acknowledged every entry of it. An entry sent but
/// not acknowledged is sent again (duplicates are idempotent downstream; loss is not possible). An entry the hub
/// refuses for good (too large for it, an invalid record) goes to the dead letters with <see cref="RejectedCode"/>
/// instead of being sent forever; replay puts it back into the outbox, e.g. after the hub's limit is raised.
/// Two rounds are in flight: the next one is read and produced while the hub acknowledges the previous one, so a
/// backlog drains at the producer's pace rather than one acknowledgement round trip per round; the round after them
/// is read from the outbox on the thread pool meanwhile. Once the producer has raised a fatal error (seen through
/// <see cref="ProducerFatalError"/>), forwarding ends with <see cref="HubFatalException"/>. Not thread-safe: one caller drives it.
/// </summary>
public sealed partial class OutboxForwarder(
    IOutbox store, IProducer<string, byte[]> producer, HubOptions options, ILogger<OutboxForwarder> logger, ProducerFatalError? fatalError = null) : IOutboxForwarder
{
    /// <summary>Reason code of an outbox entry the hub refused for good.</summary>
    public const string RejectedCode = "HubRejectedMessage";

    private const int RoundsInFlight = 2;

    private readonly string topic = HubClientConfig.Topic(options);
    private readonly byte[]? gateway = options.GatewayName is { Length: > 0 } name ? System.Text.Encoding.UTF8.GetBytes(name) : null;
    private readonly Queue<Round> inFlight = new();

    // The round after the last one in flight, read on the thread pool while this thread produces: reading the outbox
    // was a fifth of the drain's time on the producing thread. It is dropped whenever in-flight rounds are dropped.
    private Task<IReadOnlyList<OutboxEntry>>? next;

    /// <summary>One round: how many entries the hub acknowledged and how many it refused for good (both 0 when the outbox is empty).</summary>
    /// <exception cref="HubUnavailableException">Entries were waiting and the hub took none of them.</exception>
    /// <exception cref="HubFatalException">The producer failed fatally: this one will never send again.</exception>
    public async Task<ForwardResult> ForwardOnceAsync(CancellationToken cancellationToken)
    {
        ThrowIfFatal();
        try
        {
            while (inFlight.Count < RoundsInFlight)
            {
                // A prefetched round that found nothing may be older than what has arrived since: read again.
                var entries = next is { } read ? await read.ConfigureAwait(false) : [];
                next = null;
                if (entries.Count == 0)
                {
                    entries = store.ReadOutbox(options.ForwardBatchSize, afterBatchId: inFlight.LastOrDefault()?.LastBatchId ?? 0);
                }

                if (entries.Count == 0)
                {
                    break;
                }

                var sent = Send(entries, cancellationToken);
                inFlight.Enqueue(sent);
                next = Task.Run(() => store.ReadOutbox(options.ForwardBatchSize, afterBatchId: sent.LastBatchId), CancellationToken.None);
            }

            if (inFlight.Count == 0)
            {
                return default;
            }

            var round = inFlight.Peek();
            // librdkafka reports every message by message.timeout.ms (DeliveryTimeout); the margin covers its clock.
            await round.Done.Task.WaitAsync(options.DeliveryTimeout + TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            inFlight.Dequeue();
            if (round.Failures.Any(f => f is not null))
            {
                // Nothing of the round is marked: a new producer sends it all again (duplicates are idempotent downstream).
                ThrowIfFatal();
            }

            var result = Complete(round);
            if (round.Failures.FirstOrDefault(f => f is not null && !HubErrors.IsPermanent(f.Code)) is { } failure)
            {
                // Later rounds were sent past an entry that failed; start again from the oldest undelivered batch.
                inFlight.Clear();
                next = null;
                if (result == default)
                {
                    throw new HubUnavailableException($"The hub acknowledged none of {round.Entries.Count} entries (error: {failure.Code}).");
                }
            }

            Log.Forwarded(logger, result.Acknowledged, result.Rejected, round.Entries.Count - result.Acknowledged - result.Rejected);
            return result;
        }
        catch (Exception ex) when (ex is not HubUnavailableException)
        {
            // Timed out, cancelled or fatal: what is in flight may or may not arrive; it stays in the outbox and is sent again.
            inFlight.Clear();
            next = null;
            throw;
        }
    }

    /// <summary>
    /// Marks delivered the batches of the round whose every entry the hub acknowledged or refused for good, with the
    /// refused ones as dead letters in the same transaction.
    /// </summary>
    private ForwardResult Complete(Round round)
    {
        var rejected = new List<(OutboxEntry Entry, Error Error)>();
        var incomplete = new HashSet<long>();
        for (var i = 0; i < round.Entries.Count; i++)
        {
            if (round.Failures[i] is not { } error)
            {
                continue;
            }

            if (HubErrors.IsPermanent(error.Code))
            {
                rejected.Add((round.Entries[i], error));
            }
            else
            {
                incomplete.Add(round.Entries[i].Id);
            }
        }

        // A rejected entry of a batch that is sent again is rejected again then; it becomes a dead letter once.
        var now = DateTime.UtcNow;
        var deadLetters = rejected.Where(r => !incomplete.Contains(r.Entry.Id)).Select(r => new GroupDeadLetter(
            r.Entry.Key, r.Entry.Payload, RejectedCode, $"The hub refused the message for good ({r.Error.Code}: {r.Error.Reason}).", now)).ToList();
        store.MarkDelivered(round.Entries.Select(e => e.Id).Distinct().Where(id => !incomplete.Contains(id)).ToList(), deadLetters);
        if (deadLetters.Count > 0)
        {
            Log.Rejected(logger, deadLetters.Count, rejected[0].Error.Code);
        }

        var acknowledged = round.Entries.Where((_, i) => round.Failures[i] is null).Select(e => e.CreatedUtc).ToList();
        return new ForwardResult(acknowledged.Count, deadLetters.Count) { AcknowledgedCommittedUtc = acknowledged.Count > 0 ? acknowledged : null };
    }

    private void ThrowIfFatal()
    {
        if (fatalError?.Current is { } fatal)
        {
            throw new HubFatalException($"The hub producer failed fatally ({fatal.Code}: {fatal.Reason}); a new one is needed. The outbox keeps every entry.");
        }
    }

    private Round Send(IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
    {
        var messages = OutboxPacking.Pack(entries, options.PackUpToBytes);
        var round = new Round(entries, messages.Count);
        foreach (var indices in messages)
        {
            // Ends when the hub acknowledges or refuses the message (on librdkafka's thread), or here when it is not sent.
            var span = ForwardSpan.Start(entries, indices, "kafka", topic);
            try
            {
                var value = PackedMessage.Pack(indices.ConvertAll(i => entries[i].Payload));
                var message = new Message<string, byte[]> { Key = entries[indices[0]].Key, Value = value, Headers = [] };
                if (gateway is not null)
                {
                    message.Headers.Add(new Header(HubOptions.GatewayHeader, gateway));
                }

                ForwardSpan.Inject(span, (name, text) => message.Headers.Add(new Header(name, System.Text.Encoding.UTF8.GetBytes(text))));
                Produce(message, report =>
                {
                    round.Report(indices, report.Error);
                    ForwardSpan.End(span, report.Error.IsError ? report.Error.Code.ToString() : null, report.Partition.Value, report.Offset.Value);
                }, cancellationToken);
            }
            catch (ProduceException<string, byte[]> ex)
            {
                // Refused locally (e.g. too large): the others go on.
                round.Report(indices, ex.Error);
                ForwardSpan.End(span, ex.Error.Code.ToString());
            }
            catch (Exception ex) when (ex is not (KafkaException or OperationCanceledException or ObjectDisposedException))
            {
                // Anything else these entries cause (a bug not met yet) makes them a dead letter, not a stalled outbox.
                round.Report(indices, new Error(ErrorCode.InvalidRecord, $"not sendable ({ex.GetType().Name})"));
                ForwardSpan.End(span, ex.GetType().Name);
            }
            catch (Exception ex)
            {
                ForwardSpan.End(span, ex.GetType().Name);
                throw;
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

    /// <summary>Entries sent together and their delivery reports (which arrive on librdkafka's thread), one per hub message.</summary>
    private sealed class Round(IReadOnlyList<OutboxEntry> entries, int messages)
    {
        private int pending = messages;

        public IReadOnlyList<OutboxEntry> Entries => entries;

        public long LastBatchId => entries[^1].Id;

        /// <summary>Each entry's error; once <see cref="Done"/>, an entry without one was acknowledged.</summary>
        public Error?[] Failures { get; } = new Error?[entries.Count];

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The report of the hub message that held these entries.</summary>
        public void Report(List<int> indices, Error error)
        {
            if (error.IsError)
            {
                indices.ForEach(i => Failures[i] = error);
            }

            if (Interlocked.Decrement(ref pending) == 0)
            {
                Done.TrySetResult();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Debug, Message = "Forwarded {Delivered} outbox entries to the hub, {Rejected} refused for good; {Failed} stay for the next round.")]
        public static partial void Forwarded(ILogger logger, int delivered, int rejected, int failed);

        [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "The hub refused {Count} outbox entries for good ({Error}); they are dead letters (HubRejectedMessage) and can be replayed once the hub takes them.")]
        public static partial void Rejected(ILogger logger, int count, ErrorCode error);
    }
}
