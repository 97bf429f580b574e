using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Persist;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Writer.DeviceMessages;

namespace MedTech.Edge.Writer;

/// <summary>
/// The cloud writer's loop: consume a batch from the hub (up to <see cref="PersistenceOptions.MaxBatchMeasurements"/>
/// measurements or <see cref="PersistenceOptions.MaxBatchWait"/>), write it to FHIR, send its dead letters to the
/// dead-letter topic and wait for the broker's acknowledgement, and only then store the offsets (librdkafka commits
/// stored offsets each second and on close). A crash before the commit re-delivers the batch to whichever instance
/// owns the partition next; writing it again changes nothing. What is in hand is in the <see cref="InHandJournal"/>, so
/// a message that kills the process is retried once alone and then quarantined, never a crash loop.
/// Writers cannot race each other: while a batch is written its partitions are paused and the consumer is still
/// polled, so a rebalance reaches the writer mid-write; the revocation handler finishes the batch (within
/// <see cref="WriterOptions.RevocationGrace"/>) and commits it, or stops it, before it returns, and only then does
/// the group hand the partitions to another writer. Partitions lost stop the write at once, uncommitted: the new
/// owner may already be writing them, and a stale writer's late write (a Patient it resolved before a re-link) must
/// not land after the new owner's.
/// </summary>
public sealed partial class HubWriterWorker(
    MeasurementWriter writer, InHandJournal journal, IConsumer<string, byte[]> consumer, IProducer<string, byte[]> deadLetterProducer, ProducerFatalError producerFatalError,
    WriterMetrics metrics, ModuleHealth health, IOptions<HubOptions> hub, IOptions<WriterOptions> options, IOptions<PersistenceOptions> persistence,
    ILogger<HubWriterWorker> logger, RebalanceRelay? rebalance = null, DeviceMessageNormalizer? deviceMessages = null, ShadowRun? shadow = null) : BackgroundService
{
    // How often the consumer is polled while a batch is written: how soon a rebalance reaches the writer.
    private static readonly TimeSpan PollWhileWriting = TimeSpan.FromMilliseconds(100);

    // Consumed and not yet written; the revocation handler takes out what belongs to partitions given up. The
    // handlers run inside Consume, which only the loop calls, so the loop and the handlers never run at once.
    private List<ConsumeResult<string, byte[]>> pending = [];

    // The batch being written, while it is.
    private InFlight? inFlight;

    // Consume blocks its thread: the loop gets a thread of its own.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => RunAsync(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        if (rebalance is not null)
        {
            rebalance.Revoked = OnRevoked;
        }

        consumer.Subscribe(HubClientConfig.Topic(hub.Value));
        if (journal.Recovered > 0)
        {
            Log.Recovering(logger, journal.Recovered);
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                List<ConsumeResult<string, byte[]>> batch;
                try
                {
                    batch = ConsumeBatch(stoppingToken);
                }
                catch (ConsumeException ex)
                {
                    // E.g. the topic does not exist (yet): nothing was taken, so nothing is lost; try again shortly.
                    var code = ex.Error.Code.ToString();
                    health.Degraded("hub", $"consume failed ({code})");
                    Log.ConsumeFailed(logger, code);
                    await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
                    continue;
                }

                health.Healthy("hub");
                if (batch.Count == 0)
                {
                    continue;
                }

                await WriteWhilePollingAsync(batch, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the uncommitted batch (if any) is consumed again by the next owner of its partitions. It did
            // not kill the process, so it is no longer in hand.
            journal.Done([]);
        }
        finally
        {
            consumer.Close();
        }
    }

    /// <summary>
    /// Writes a batch, recorded in hand first: together, except the messages a previous process died holding, which go
    /// alone (in hand in a batch then) or straight to the dead-letter topic (in hand alone then).
    /// </summary>
    private async Task HandleAsync(List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var byHandling = batch.ToLookup(r => journal.Classify(r.TopicPartitionOffset));
        var poison = byHandling[InHandJournal.Handling.Quarantine].ToList();
        if (poison.Count > 0)
        {
            Log.Quarantined(logger, poison.Count);
            metrics.Errors.Add(poison.Count, new KeyValuePair<string, object?>("reason", ErrorCodes.Poison));
            await DeadLetterAsync(poison.Select(r => new WriterDeadLetter(r.Message.Key ?? "", r.Message.Value ?? [], ErrorCodes.Poison,
                "The writer process died twice while this hub message was in hand, the second time with it alone; it was quarantined without another attempt.")
                { Envelope = r.Message.Headers }).ToList(),
                stoppingToken).ConfigureAwait(false);
        }

        await WriteAsync(byHandling[InHandJournal.Handling.Batch].ToList(), alone: false, stoppingToken).ConfigureAwait(false);
        foreach (var suspect in byHandling[InHandJournal.Handling.Alone])
        {
            await WriteAsync([suspect], alone: true, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task WriteAsync(List<ConsumeResult<string, byte[]>> messages, bool alone, CancellationToken stoppingToken)
    {
        if (messages.Count == 0)
        {
            return;
        }

        var offsets = messages.Select(r => r.TopicPartitionOffset).ToList();
        journal.InHand(offsets, alone);

        // While the writer only waits out a FHIR outage nothing is in hand: a host that is hard-killed twice during an
        // outage must not make a good message poison.
        void Waiting(bool waiting)
        {
            if (waiting)
            {
                journal.Done([]);
            }
            else
            {
                journal.InHand(offsets, alone);
            }
        }

        var consumed = ConsumeSpans(messages, continueTrace: deviceMessages is null);
        try
        {
            var deadLetters = deviceMessages is not null
                ? await deviceMessages.WriteAsync(messages, stoppingToken, Waiting, consumed?.ConvertAll(s => s?.Context ?? default)).ConfigureAwait(false)
                : await writer.WriteAsync(messages.Select(r => (r.Message.Key ?? "", r.Message.Value)).ToList(), stoppingToken, Waiting,
                messages.Select(r => new MeasurementSource($"{r.Topic}/{r.Partition.Value}/{r.Offset.Value}", Gateway(r.Message.Headers))).ToList(),
                consumed?.ConvertAll(s => s?.Context ?? default), messages.ConvertAll(r => r.Message.Headers)).ConfigureAwait(false);
            await DeadLetterAsync(deadLetters, stoppingToken).ConfigureAwait(false);
            metrics.OnWritten(messages.Select(r => r.Message.Timestamp.Type == TimestampType.NotAvailable ? (DateTime?)null : r.Message.Timestamp.UtcDateTime));
        }
        catch (Exception ex)
        {
            consumed?.ForEach(s => s?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name));
            throw;
        }
        finally
        {
            consumed?.ForEach(s => s?.Dispose());
        }
    }

    /// <summary>
    /// One consume span per hub message, a child of the gateway's forward span (the message's <c>traceparent</c> and
    /// <c>tracestate</c>, UTF-8 from a Kafka producer or AMQP-encoded from the Event Hubs SDK), open until the batch is
    /// written (or its dead letters sent); null when nothing listens. Only our own forwarder's headers are continued
    /// (<paramref name="continueTrace"/>): on the device-message input the headers are the device's own application
    /// properties, and a device speaks only for itself; it must not pick the trace id, the sampling decision or the
    /// tracestate text stored beside our spans, so each consume span there starts a trace of its own.
    /// </summary>
    private static List<Activity?>? ConsumeSpans(List<ConsumeResult<string, byte[]>> messages, bool continueTrace)
    {
        if (!PipelineTracing.Writer.HasListeners())
        {
            return null;
        }

        return messages.ConvertAll(r =>
        {
            var parent = continueTrace
                ? PipelineTracing.Parse(Header(r.Message.Headers, PipelineTracing.TraceParentHeader), Header(r.Message.Headers, PipelineTracing.TraceStateHeader))
                : default;
            var span = PipelineTracing.StartDetached(PipelineTracing.Writer, "consume", ActivityKind.Consumer, parent);

            // Attributes only where they are kept: a span the sampler dropped only carries the trace id on.
            if (span is { IsAllDataRequested: true })
            {
                span.SetTag("messaging.system", "kafka");
                span.SetTag("messaging.destination.name", r.Topic);
                span.SetTag("messaging.destination.partition.id", r.Partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                span.SetTag("messaging.kafka.offset", r.Offset.Value);
            }

            return span;
        });
    }

    /// <summary>A header's text, bounded (a hostile message's megabyte header is not parsed); null when absent.</summary>
    private static string? Header(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) && bytes.Length is > 0 and <= 8192 ? Hub.AmqpHeaderValue.ToText(bytes) : null;

    /// <summary>
    /// The gateway a hub message names (<see cref="HubOptions.GatewayHeader"/>), for the Provenance; null when it names
    /// none. UTF-8 from a Kafka producer, an AMQP string from the Event Hubs SDK transport.
    /// </summary>
    private static string? Gateway(Headers? headers) =>
        headers is not null && headers.TryGetLastBytes(HubOptions.GatewayHeader, out var bytes) && bytes.Length is > 0 and <= 1024 ? Hub.AmqpHeaderValue.ToText(bytes) : null;

    private List<ConsumeResult<string, byte[]>> ConsumeBatch(CancellationToken stoppingToken)
    {
        var deadline = DateTime.UtcNow + persistence.Value.MaxBatchWait;
        var measurements = pending.Sum(r => Weight(r.Message.Value));
        while (measurements < persistence.Value.MaxBatchMeasurements && !stoppingToken.IsCancellationRequested)
        {
            var wait = pending.Count == 0 ? TimeSpan.FromMilliseconds(250) : deadline - DateTime.UtcNow;
            if (wait <= TimeSpan.Zero)
            {
                break;
            }

            var result = consumer.Consume(wait);
            if (result is null || result.IsPartitionEOF)
            {
                if (pending.Count == 0)
                {
                    // Idle: the lag falls back to what is left once the last write is done (0 when caught up).
                    SetLag();
                    deadline = DateTime.UtcNow + persistence.Value.MaxBatchWait;
                    continue;
                }

                break;
            }

            pending.Add(result);
            measurements += Weight(result.Message.Value);
        }

        SetLag();
        var batch = pending;
        pending = [];
        return batch;
    }

    // From the consumer's cached watermarks: local calls, current for partitions that are fetched (not paused).
    private void SetLag() => metrics.SetLag(WriterLag.FromCache(consumer, WriterLag.NotWrittenFrom(consumer, pending)));

    /// <summary>
    /// Writes the batch on the thread pool while this thread keeps polling the consumer with every assigned partition
    /// paused (nothing new is fetched): a rebalance runs <see cref="OnRevoked"/> now, not after the write, and the
    /// group never takes this member for dead however long the FHIR server makes the write wait. Offsets are stored
    /// afterwards unless the revocation handler settled the batch itself.
    /// </summary>
    private async Task WriteWhilePollingAsync(List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        // Resumed by name afterwards, not as "the assignment then": librdkafka keeps a partition paused by the
        // application across a rebalance that gives it back, and it would never be read again.
        var paused = consumer.Assignment.ToList();
        consumer.Pause(paused);
        var flight = new InFlight(batch, Task.Run(() => HandleAsync(batch, stop.Token), CancellationToken.None), stop);
        inFlight = flight;
        var lag = WriterLag.WatchAsync(consumer, metrics, flight.Task, WriterLag.NotWrittenFrom(consumer, batch));
        try
        {
            while (!flight.Task.IsCompleted)
            {
                ConsumeResult<string, byte[]>? stray;
                try
                {
                    stray = consumer.Consume(PollWhileWriting);
                }
                catch (ConsumeException ex)
                {
                    Log.ConsumeFailed(logger, ex.Error.Code.ToString());
                    flight.Task.Wait(PollWhileWriting, CancellationToken.None);
                    continue;
                }

                // A partition assigned by a rebalance meanwhile is not paused: what it yields starts the next batch.
                if (stray is not null && !stray.IsPartitionEOF)
                {
                    pending.Add(stray);
                    paused.Add(stray.TopicPartition);
                    consumer.Pause([stray.TopicPartition]);
                }
            }
        }
        catch (AggregateException)
        {
            // The write failed; awaiting it below throws what it threw.
        }
        finally
        {
            inFlight = null;
            consumer.Resume(paused);
        }

        await lag.ConfigureAwait(false);

        if (!flight.Settled)
        {
            await flight.Task.ConfigureAwait(false);
            journal.Done(StoreOffsets(batch));
        }
    }

    /// <summary>
    /// The revocation (or loss) handler, inside <c>Consume</c>: what was consumed and not written from those partitions
    /// is dropped (the next owner consumes it from the committed offset); a batch being written is finished and
    /// committed within <see cref="WriterOptions.RevocationGrace"/> when revoked, else stopped, and in either case
    /// nothing of it is written once this returns. No offset of a partition given up is stored after it.
    /// </summary>
    private void OnRevoked(IReadOnlyList<TopicPartitionOffset> partitions, bool lost)
    {
        var revoked = partitions.Select(p => p.TopicPartition).ToHashSet();
        pending.RemoveAll(r => revoked.Contains(r.TopicPartition));
        if (inFlight is not { Settled: false } flight || !flight.Batch.Any(r => revoked.Contains(r.TopicPartition)))
        {
            return;
        }

        flight.Settled = true;
        if (!lost && !flight.Task.IsCompleted)
        {
            Log.FinishingOnRevoke(logger, flight.Batch.Count, options.Value.RevocationGrace);
        }

        if (!lost && Finished(flight.Task, options.Value.RevocationGrace) && flight.Task.IsCompletedSuccessfully)
        {
            var stored = StoreOffsets(flight.Batch);
            try
            {
                // Committed now, before the partitions are handed over, so the next owner starts after this batch; a
                // shadow run commits nothing (see StoreOffsets).
                if (shadow is null)
                {
                    consumer.Commit(stored);
                }

                Log.FinishedOnRevoke(logger, flight.Batch.Count);
            }
            catch (KafkaException ex)
            {
                // A broker may refuse commits once the rebalance has moved on (the mock cluster answers
                // RebalanceInProgress; Kafka does from CompletingRebalance): written all the same, rewritten unchanged.
                Log.CommitOnRevokeFailed(logger, ex.Error.Code.ToString());
            }

            journal.Done(stored);
            return;
        }

        if (flight.Task.IsFaulted)
        {
            // The write failed by itself (the loop rethrows it): nothing to stop and nothing to commit.
            flight.Settled = false;
            return;
        }

        flight.Stop.Cancel();
        Finished(flight.Task, Timeout.InfiniteTimeSpan);
        journal.Done([]);
        Log.StoppedOnRevoke(logger, flight.Batch.Count, lost ? "lost" : "revoked");
    }

    /// <summary>Waits for the write; true when it ended (in any way) within <paramref name="timeout"/>.</summary>
    private static bool Finished(Task task, TimeSpan timeout)
    {
        try
        {
            return task.Wait(timeout);
        }
        catch (AggregateException)
        {
            return true;
        }
    }

    /// <summary>A batch being written: the write, and how to stop it. <see cref="Settled"/> once the revocation handler finished or stopped it.</summary>
    private sealed class InFlight(List<ConsumeResult<string, byte[]>> batch, Task task, CancellationTokenSource stop)
    {
        public List<ConsumeResult<string, byte[]>> Batch { get; } = batch;

        public Task Task { get; } = task;

        public CancellationTokenSource Stop { get; } = stop;

        public bool Settled { get; set; }
    }

    /// <summary>
    /// What a hub message counts toward <see cref="PersistenceOptions.MaxBatchMeasurements"/>: its measurements for a
    /// gateway message; for a raw device message, whose measurements are known only once it is normalized, the
    /// average of the messages normalized so far, so batches hold about as many measurements as with groups.
    /// </summary>
    private int Weight(byte[]? value) => deviceMessages is not null ? deviceMessages.MeasurementsPerMessage : value is null ? 1 : CountMeasurements(value);

    /// <summary>The batch limit counts measurements; a cheap count of the message's <c>"Type"</c> members (of its group, or of every group it packs) is enough for it.</summary>
    private static int CountMeasurements(byte[] value)
    {
        var count = 0;
        var span = value.AsSpan();
        for (var i = span.IndexOf("\"Type\""u8); i >= 0; i = span.IndexOf("\"Type\""u8))
        {
            count++;
            span = span[(i + 6)..];
        }

        return Math.Max(count, 1);
    }

    /// <summary>
    /// A dead letter must fit the dead-letter topic, or it would be retried for ever and hold its partition: the reason
    /// (a FHIR server's OperationOutcome can be long) is cut to this many characters, and a payload that still does
    /// not fit is left out, with a header that says so and its size.
    /// </summary>
    private const int MaxReasonChars = 4096;

    /// <summary>The most characters of a dead letter's key (a device id); a longer one is sent as its SHA-256.</summary>
    private const int MaxKeyChars = 256;

    /// <summary>
    /// A dead letter's key, short enough for any topic: a key of hundreds of kilobytes (from a hostile hub message) would
    /// make the dead letter itself too large to send even without its payload, and hold the partition for ever.
    /// </summary>
    internal static string BoundedKey(string key) =>
        key.Length <= MaxKeyChars ? key : "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private async Task DeadLetterAsync(IReadOnlyList<WriterDeadLetter> deadLetters, CancellationToken stoppingToken)
    {
        if (shadow is not null)
        {
            // A dry run writes nothing anywhere: the report counts what would have been dead-lettered.
            shadow.WouldDeadLetter(deadLetters.Select(d => d.Code));
            return;
        }

        foreach (var deadLetter in deadLetters)
        {
            var reason = deadLetter.Reason.Length > MaxReasonChars ? deadLetter.Reason[..MaxReasonChars] : deadLetter.Reason;
            Header[] reasonHeaders = [new Header("reason-code", Encoding.UTF8.GetBytes(deadLetter.Code)), new Header("reason", Encoding.UTF8.GetBytes(reason))];

            // The hub message's headers (its envelope) before the reason's; none of the reason's names.
            var envelope = (deadLetter.Envelope ?? []).Where(h => h.Key is not ("reason-code" or "reason" or "payload-omitted")).ToList();
            var message = new Message<string, byte[]>
            {
                Key = BoundedKey(deadLetter.Key),
                Value = deadLetter.Payload,
                Headers = [.. envelope.Select(h => new Header(h.Key, h.GetValueBytes())), .. reasonHeaders],
            };

            // Retried until the broker has it: a dead letter is never dropped to keep the partition moving.
            var failed = false;
            for (var backoff = TimeSpan.FromMilliseconds(500); ; backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxBackoff.Ticks)), failed = true)
            {
                try
                {
                    await deadLetterProducer.ProduceAsync(options.Value.DeadLetterTopic, message, stoppingToken).ConfigureAwait(false);
                    if (failed)
                    {
                        health.Healthy("hub");
                    }

                    break;
                }
                catch (ProduceException<string, byte[]> ex) when (HubErrors.IsPermanent(ex.Error.Code) && (message.Value.Length > 0 || envelope.Count > 0))
                {
                    var code = ex.Error.Code.ToString();
                    Log.PayloadOmitted(logger, deadLetter.Code, code, message.Value.Length);
                    var omitted = $"{message.Value.Length} bytes did not fit the dead-letter topic ({code})" + (envelope.Count > 0 ? $"; its {envelope.Count} headers were left out too" : "");
                    message.Headers = [.. reasonHeaders, new Header("payload-omitted", Encoding.UTF8.GetBytes(omitted))];
                    message.Value = [];
                    envelope.Clear();
                }
                catch (ProduceException<string, byte[]> ex)
                {
                    // A producer that failed fatally never recovers: stop the module (exit code 1) before the batch is
                    // committed, so that the restart policy brings a new one and the batch is consumed again.
                    if (producerFatalError.Current is { } fatal)
                    {
                        throw new HubFatalException($"The dead-letter producer failed fatally ({fatal.Code}: {fatal.Reason}); the batch is not committed.");
                    }

                    var code = ex.Error.Code.ToString();
                    Log.DeadLetterFailed(logger, code, backoff);
                    // Nothing is written while a dead letter waits (its batch stays uncommitted): the hub check says so,
                    // unhealthy when only an operator can fix it (the topic missing or not ours to write, or a dead letter
                    // too large for it even without its payload).
                    if (HubErrors.NeedsOperator(ex.Error.Code) || HubErrors.IsPermanent(ex.Error.Code))
                    {
                        health.Unhealthy("hub", $"dead letters cannot be sent to the dead-letter topic ({code}); nothing is written meanwhile");
                    }
                    else
                    {
                        health.Degraded("hub", $"dead letters cannot be sent yet ({code})");
                    }

                    await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
                }
            }

            Log.DeadLettered(logger, deadLetter.Code);
        }
    }

    /// <summary>
    /// Stores each partition's next offset past the batch (librdkafka commits stored offsets each second and on close);
    /// returns those next offsets. A shadow run stores (and so commits) nothing: it writes nothing, and a shadow left on
    /// the writer's consumer group must not move that group past what the cut-over writer has still to write.
    /// </summary>
    private List<TopicPartitionOffset> StoreOffsets(List<ConsumeResult<string, byte[]>> batch)
    {
        var stored = new List<TopicPartitionOffset>();
        foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(p => p.MaxBy(r => r.Offset.Value)!))
        {
            stored.Add(new TopicPartitionOffset(last.TopicPartition, last.Offset + 1));
            if (shadow is not null)
            {
                continue;
            }

            try
            {
                consumer.StoreOffset(last);
            }
            catch (KafkaException ex)
            {
                // A rebalance took the partition meanwhile: the new owner consumes the batch again, idempotently.
                var code = ex.Error.Code.ToString();
                Log.StoreOffsetFailed(logger, code);
            }
        }

        return stored;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "A measurement group was dead-lettered with reason {Code}.")]
        public static partial void DeadLettered(ILogger logger, string code);

        [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "Sending a dead letter failed ({Error}); nothing is committed, next try in {Backoff}.")]
        public static partial void DeadLetterFailed(ILogger logger, string error, TimeSpan backoff);

        [LoggerMessage(EventId = 5104, Level = LogLevel.Warning, Message = "Consuming from the hub failed ({Error}); trying again in 5 s.")]
        public static partial void ConsumeFailed(ILogger logger, string error);

        [LoggerMessage(EventId = 5105, Level = LogLevel.Warning, Message = "A dead letter ({Code}) did not fit the dead-letter topic ({Error}); it is sent with its reason and without its {Bytes}-byte payload.")]
        public static partial void PayloadOmitted(ILogger logger, string code, string error, int bytes);

        [LoggerMessage(EventId = 5107, Level = LogLevel.Warning, Message = "The previous writer process died with hub messages in hand ({Ranges} offset range(s)); each is handled alone once more, and one that was alone is quarantined.")]
        public static partial void Recovering(ILogger logger, int ranges);

        [LoggerMessage(EventId = 5106, Level = LogLevel.Error, Message = "{Count} hub message(s) were in hand alone when the writer process died; they are quarantined to the dead-letter topic as Poison.")]
        public static partial void Quarantined(ILogger logger, int count);

        [LoggerMessage(EventId = 5111, Level = LogLevel.Information, Message = "A rebalance revoked the partitions of the batch being written ({Messages} hub messages); finishing it for up to {Grace} before handing them over.")]
        public static partial void FinishingOnRevoke(ILogger logger, int messages, TimeSpan grace);

        [LoggerMessage(EventId = 5108, Level = LogLevel.Information, Message = "A rebalance revoked the partitions of the batch being written ({Messages} hub messages); it was finished and committed before they were handed over.")]
        public static partial void FinishedOnRevoke(ILogger logger, int messages);

        [LoggerMessage(EventId = 5109, Level = LogLevel.Warning, Message = "The partitions of the batch being written ({Messages} hub messages) were {How}; the write was stopped before they were handed over, nothing of it is committed, and their next owner writes it again.")]
        public static partial void StoppedOnRevoke(ILogger logger, int messages, string how);

        [LoggerMessage(EventId = 5110, Level = LogLevel.Warning, Message = "Committing a finished batch on revocation failed ({Error}); its next owner writes it again, changing nothing.")]
        public static partial void CommitOnRevokeFailed(ILogger logger, string error);

        [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Storing an offset failed ({Error}) after a rebalance; the partition's next owner writes the batch again, changing nothing.")]
        public static partial void StoreOffsetFailed(ILogger logger, string error);
    }
}
