using System.Diagnostics;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Writer.DeviceMessages;

/// <summary>A device message the writer normalized: its key, body and headers (what a dead letter keeps), its measurements, and its source.</summary>
public sealed record NormalizedMessage(string Key, byte[] Payload, IReadOnlyList<Measurement> Measurements, MeasurementSource Source)
{
    public Headers? Envelope { get; init; }
}

/// <summary>
/// Cloud normalization (<see cref="WriterInput.DeviceMessages"/>): Normalize with the gateway's own normalizer and
/// device mapping, then Group, Transform and Persist through <see cref="MeasurementWriter"/>, as for gateway groups.
/// A message that does not normalize is dead-lettered whole with the gateway's reason codes (the normalizer's first
/// error's code, a bounded summary of its errors); an exception nobody expected from one message makes it a
/// <see cref="ErrorCodes.ProcessingError"/> dead letter and never stops the others.
/// </summary>
public sealed partial class DeviceMessageNormalizer(Normalizer normalizer, MeasurementWriter writer, WriterMetrics metrics,
    Microsoft.Extensions.Options.IOptions<WriterOptions> options, ILogger<DeviceMessageNormalizer> logger)
{
    /// <summary>Reason text kept with a dead letter: the dead-letter topic's bound (<see cref="HubWriterWorker"/>).</summary>
    private const int MaxReasonChars = 4096;

    // Running totals for MeasurementsPerMessage; read by the consuming thread, written by the writing one.
    private long normalizedMessages;
    private long normalizedMeasurements;

    /// <summary>Measurements per normalized message so far (at least 1): what a consumed message counts toward the batch limit.</summary>
    public int MeasurementsPerMessage
    {
        get
        {
            var messages = Interlocked.Read(ref normalizedMessages);
            return messages == 0 ? 1 : (int)Math.Clamp(Interlocked.Read(ref normalizedMeasurements) / messages, 1, 10_000);
        }
    }

    /// <param name="traces">Per message, its consume span: the message's transform span (normalization, here) is its child,
    /// and the batch's persist span a child of the first and linked to the others, as for gateway groups (<see cref="PipelineTracing"/>).</param>
    public async Task<IReadOnlyList<WriterDeadLetter>> WriteAsync(IReadOnlyList<ConsumeResult<string, byte[]>> messages, CancellationToken cancellationToken,
        Action<bool>? waitingOnServer = null, IReadOnlyList<ActivityContext>? traces = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var deadLetters = new List<WriterDeadLetter>();
        var normalized = new List<NormalizedMessage>();
        var amqp = options.Value.HeaderEncoding == HeaderEncoding.Amqp;
        var tracing = PipelineTracing.Writer.HasListeners();
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            using var span = tracing ? PipelineTracing.StartDetached(PipelineTracing.Writer, "transform", ActivityKind.Internal, traces is not null && i < traces.Count ? traces[i] : default) : null;
            var key = message.Message.Key ?? "";
            var body = message.Message.Value ?? [];
            var headers = message.Message.Headers;
            string code, reason;
            try
            {
                var result = normalizer.Normalize(EventHubEnvelope.Create(message, amqp));
                if (result.IsSuccess)
                {
                    metrics.DeviceMessages.Add(1, new KeyValuePair<string, object?>("outcome", "normalized"));
                    Interlocked.Increment(ref normalizedMessages);
                    Interlocked.Add(ref normalizedMeasurements, result.Measurements.Count);
                    normalized.Add(new NormalizedMessage(key, body, result.Measurements,
                        new MeasurementSource($"{message.Topic}/{message.Partition.Value}/{message.Offset.Value}")) { Envelope = headers });
                    span?.SetTag("medtech.measurements", result.Measurements.Count);
                    continue;
                }

                code = result.Errors[0].Code;
                reason = ErrorCodes.Summarize(result.Errors, MaxReasonChars);
            }
            catch (DuplicateSystemPropertyException ex)
            {
                code = ErrorCodes.DuplicateSystemProperty;
                reason = ex.Message;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                code = ErrorCodes.ProcessingError;
                reason = FhirErrorCodes.Describe("normalize", ex);
                Log.NormalizeFailed(logger, ex.GetType().Name);
            }

            metrics.DeviceMessages.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            deadLetters.Add(new WriterDeadLetter(key, body, code, reason) { Envelope = headers });
            // The code only: the reason may quote the message.
            span?.SetStatus(ActivityStatusCode.Error, code);
        }

        return await writer.WriteNormalizedAsync(normalized, deadLetters, cancellationToken, waitingOnServer, traces).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5201, Level = LogLevel.Error, Message = "Normalizing a device message failed with {Exception}; it is dead-lettered as ProcessingError.")]
        public static partial void NormalizeFailed(ILogger logger, string exception);
    }
}
