using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Fhir.Persistence;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Writer;

/// <summary>
/// The cloud writer's loop: consume a batch from the hub (up to <see cref="PersistenceOptions.MaxBatchMeasurements"/>
/// measurements or <see cref="PersistenceOptions.MaxBatchWait"/>), write it to FHIR, send its dead letters to the
/// dead-letter topic and wait for the broker's acknowledgement, and only then store the offsets (librdkafka commits
/// stored offsets each second and on close). A crash before the commit re-delivers the batch to whichever instance
/// owns the partition next; writing it again changes nothing.
/// </summary>
public sealed partial class HubWriterWorker(
    MeasurementWriter writer, IConsumer<string, byte[]> consumer, IProducer<string, byte[]> deadLetterProducer, ProducerFatalError producerFatalError,
    WriterMetrics metrics, ModuleHealth health, IOptions<HubOptions> hub, IOptions<WriterOptions> options, IOptions<PersistenceOptions> persistence,
    ILogger<HubWriterWorker> logger) : BackgroundService
{
    // Consume blocks its thread: the loop gets a thread of its own.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => RunAsync(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        consumer.Subscribe(HubClientConfig.Topic(hub.Value));
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

                var deadLetters = await writer.WriteAsync(batch.Select(r => (r.Message.Key ?? "", r.Message.Value)).ToList(), stoppingToken).ConfigureAwait(false);
                await DeadLetterAsync(deadLetters, stoppingToken).ConfigureAwait(false);
                StoreOffsets(batch);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the uncommitted batch (if any) is consumed again by the next owner of its partitions.
        }
        finally
        {
            consumer.Close();
        }
    }

    private List<ConsumeResult<string, byte[]>> ConsumeBatch(CancellationToken stoppingToken)
    {
        var batch = new List<ConsumeResult<string, byte[]>>();
        var deadline = DateTime.UtcNow + persistence.Value.MaxBatchWait;
        var measurements = 0;
        while (measurements < persistence.Value.MaxBatchMeasurements && !stoppingToken.IsCancellationRequested)
        {
            var wait = batch.Count == 0 ? TimeSpan.FromMilliseconds(250) : deadline - DateTime.UtcNow;
            if (wait <= TimeSpan.Zero)
            {
                break;
            }

            var result = consumer.Consume(wait);
            if (result is null || result.IsPartitionEOF)
            {
                if (batch.Count == 0)
                {
                    deadline = DateTime.UtcNow + persistence.Value.MaxBatchWait;
                    continue;
                }

                break;
            }

            batch.Add(result);
            measurements += CountMeasurements(result.Message.Value);
        }

        UpdateLag();
        return batch;
    }

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

    private async Task DeadLetterAsync(IReadOnlyList<WriterDeadLetter> deadLetters, CancellationToken stoppingToken)
    {
        foreach (var deadLetter in deadLetters)
        {
            var reason = deadLetter.Reason.Length > MaxReasonChars ? deadLetter.Reason[..MaxReasonChars] : deadLetter.Reason;
            var message = new Message<string, byte[]>
            {
                Key = deadLetter.Key,
                Value = deadLetter.Payload,
                Headers = [new Header("reason-code", Encoding.UTF8.GetBytes(deadLetter.Code)), new Header("reason", Encoding.UTF8.GetBytes(reason))],
            };

            // Retried until the broker has it: a dead letter is never dropped to keep the partition moving.
            for (var backoff = TimeSpan.FromMilliseconds(500); ; backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxBackoff.Ticks)))
            {
                try
                {
                    await deadLetterProducer.ProduceAsync(options.Value.DeadLetterTopic, message, stoppingToken).ConfigureAwait(false);
                    break;
                }
                catch (ProduceException<string, byte[]> ex) when (HubErrors.IsPermanent(ex.Error.Code) && message.Value.Length > 0)
                {
                    var code = ex.Error.Code.ToString();
                    Log.PayloadOmitted(logger, deadLetter.Code, code, message.Value.Length);
                    message.Headers.Add("payload-omitted", Encoding.UTF8.GetBytes($"{message.Value.Length} bytes did not fit the dead-letter topic ({code})"));
                    message.Value = [];
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
                    await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
                }
            }

            Log.DeadLettered(logger, deadLetter.Code);
        }
    }

    /// <summary>Stores each partition's next offset past the batch; librdkafka commits stored offsets each second and on close.</summary>
    private void StoreOffsets(List<ConsumeResult<string, byte[]>> batch)
    {
        foreach (var last in batch.GroupBy(r => r.TopicPartition).Select(p => p.MaxBy(r => r.Offset.Value)!))
        {
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
    }

    private void UpdateLag()
    {
        long lag = 0;
        foreach (var partition in consumer.Assignment)
        {
            var watermarks = consumer.GetWatermarkOffsets(partition);
            var position = consumer.Position(partition);
            if (watermarks.High.Value >= 0 && position.Value >= 0)
            {
                lag += Math.Max(0, watermarks.High.Value - position.Value);
            }
        }

        metrics.SetLag(lag);
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

        [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "Storing an offset failed ({Error}) after a rebalance; the partition's next owner writes the batch again, changing nothing.")]
        public static partial void StoreOffsetFailed(ILogger logger, string error);
    }
}
