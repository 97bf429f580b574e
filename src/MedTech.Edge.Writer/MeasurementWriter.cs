using System.Diagnostics;
using System.Text.Json;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Writer.DeviceMessages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Writer;

/// <summary>
/// Transform and Persist for one batch of hub messages (a measurement group each, or a <see cref="PackedMessage"/> of
/// several), whatever they came from: the batch is on the FHIR server when this returns, except the groups returned
/// as dead letters, each with its reason code and its original bytes. No group can hold the batch: one that is not a
/// measurement group is refused on reading; one the transform or the server fails is failed alone by the persister;
/// and an exception nobody expected from the whole batch splits it in halves, down to the one group that causes it.
/// While the FHIR server is unavailable or refuses the writer itself (401/403), it retries with capped backoff and
/// never returns, so the caller never acknowledges what is not stored.
/// </summary>
public sealed partial class MeasurementWriter(ObservationPersister persister, WriterMetrics metrics, ModuleHealth health,
    IOptions<WriterOptions> options, ILogger<MeasurementWriter> logger, TimeProvider? timeProvider = null, ShadowRun? shadow = null)
{
    /// <summary>
    /// Longest device, patient, encounter or correlation id (and type name) the writer writes. Ids go into search URLs
    /// and the Observation identifier; IoT Hub device ids have at most 128 characters and record numbers fewer, so
    /// anything near this is not an id, and a few hundred KB of one would only fail later, further from its cause.
    /// </summary>
    public const int MaxIdentifierLength = 1024;

    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    /// <param name="waitingOnServer">Called with true before each wait for the FHIR server and false after it: a caller that
    /// guards against messages that kill the process knows they are not being worked on meanwhile.</param>
    /// <param name="sources">Per message, the id its Provenance names (<c>topic/partition/offset</c>) and its gateway; without
    /// one, a message is named by the SHA-256 of its bytes (never by its content).</param>
    /// <param name="traces">Per message, the span its transform span is a child of (the consume span, or the gateway's
    /// group span in one process); the persist span is a child of the first and linked to the others (<see cref="PipelineTracing"/>).
    /// A message given no context here (default: in one process, a group the gateway did not sample) gets no transform
    /// span, and a batch of such messages no persist span: a stage after ingest never starts a root. Without the list at
    /// all, the spans are roots.</param>
    /// <param name="envelopes">Per message, its hub headers (the gateway's name, the trace context): its dead letters keep
    /// them, so a replay is written with the same Provenance and trace.</param>
    public async Task<IReadOnlyList<WriterDeadLetter>> WriteAsync(IReadOnlyList<(string Key, byte[] Payload)> messages, CancellationToken cancellationToken,
        Action<bool>? waitingOnServer = null, IReadOnlyList<MeasurementSource>? sources = null, IReadOnlyList<ActivityContext>? traces = null,
        IReadOnlyList<Confluent.Kafka.Headers?>? envelopes = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var deadLetters = new List<WriterDeadLetter>();
        var groups = new List<HubGroup>();
        var count = 0;
        var tracing = PipelineTracing.Writer.HasListeners();
        for (var i = 0; i < messages.Count; i++)
        {
            var (key, payload) = messages[i];
            var source = (sources is not null && i < sources.Count ? sources[i] : null) ?? new MeasurementSource("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(payload)));
            using var span = tracing && (traces is null || TraceAt(traces, i) != default)
                ? PipelineTracing.StartDetached(PipelineTracing.Writer, "transform", ActivityKind.Internal, TraceAt(traces, i))
                : null;
            var envelope = envelopes is not null && i < envelopes.Count ? envelopes[i] : null;
            var refused = deadLetters.Count;
            var read = 0;
            foreach (var bytes in SplitOrDeadLetter(key, payload, deadLetters))
            {
                count++;
                if (Read(key, bytes, source, deadLetters) is { } group)
                {
                    groups.Add(group with { Envelope = envelope });
                    read++;
                }
            }

            for (var d = refused; d < deadLetters.Count; d++)
            {
                deadLetters[d] = deadLetters[d] with { Envelope = envelope };
            }

            span?.SetTag("medtech.groups", read);
            if (deadLetters.Count > refused)
            {
                span?.SetStatus(ActivityStatusCode.Error, deadLetters[^1].Code);
            }
        }

        using var persist = StartPersist(traces, onlyAsChild: traces is not null);
        var result = await PersistAllAsync(groups, count, deadLetters, waitingOnServer, cancellationToken).ConfigureAwait(false);
        persist?.SetTag("medtech.groups", groups.Count);
        persist?.SetTag("medtech.dead_letters", result.Count);
        return result;
    }

    /// <summary>
    /// The persist span of a batch: the first sampled message's child (else the first's, unsampled, so no new trace
    /// starts here), the sampled others linked; none when nothing listens, or when <paramref name="onlyAsChild"/> and no
    /// message has a context (a stage after ingest never starts a root).
    /// </summary>
    private static Activity? StartPersist(IReadOnlyList<ActivityContext>? traces, bool onlyAsChild)
    {
        if (!PipelineTracing.Writer.HasListeners())
        {
            return null;
        }

        var contexts = traces?.Where(t => t != default).ToList() ?? [];
        return onlyAsChild && contexts.Count == 0 ? null
            : PipelineTracing.StartDetached(PipelineTracing.Writer, "persist", ActivityKind.Client, PipelineTracing.FirstRecorded(contexts), contexts.Where(PipelineTracing.IsRecorded));
    }

    private static ActivityContext TraceAt(IReadOnlyList<ActivityContext>? traces, int index) => traces is not null && index < traces.Count ? traces[index] : default;

    /// <summary>
    /// Persist for device messages normalized by the writer itself (<see cref="WriterInput.DeviceMessages"/>): each
    /// message is one unit, its measurements persisted with the batch's and the message dead-lettered whole (body and
    /// headers) when any of them fails. <paramref name="deadLetters"/> holds the messages that did not normalize; the
    /// ones that fail here are added to it.
    /// </summary>
    /// <param name="traces">The consume spans of the batch's hub messages: the persist span is a child of the first and linked to the others.</param>
    public async Task<IReadOnlyList<WriterDeadLetter>> WriteNormalizedAsync(IReadOnlyList<NormalizedMessage> messages, List<WriterDeadLetter> deadLetters,
        CancellationToken cancellationToken, Action<bool>? waitingOnServer = null, IReadOnlyList<ActivityContext>? traces = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(deadLetters);
        var groups = new List<HubGroup>();
        foreach (var message in messages)
        {
            if (Check(message.Measurements) is { } problem)
            {
                deadLetters.Add(new WriterDeadLetter(message.Key, message.Payload, ErrorCodes.IncompatibleData, problem) { Envelope = message.Envelope });
            }
            else
            {
                groups.Add(new HubGroup(message.Key, message.Payload, message.Measurements, message.Source) { Envelope = message.Envelope });
            }
        }

        using var persist = StartPersist(traces, onlyAsChild: false);
        var result = await PersistAllAsync(groups, groups.Count, deadLetters, waitingOnServer, cancellationToken).ConfigureAwait(false);
        persist?.SetTag("medtech.groups", groups.Count);
        persist?.SetTag("medtech.dead_letters", result.Count);
        return result;
    }

    private async Task<IReadOnlyList<WriterDeadLetter>> PersistAllAsync(List<HubGroup> groups, int count, List<WriterDeadLetter> deadLetters,
        Action<bool>? waitingOnServer, CancellationToken cancellationToken)
    {
        metrics.Groups.Add(count);
        metrics.Consumed.Add(groups.Sum(g => g.Measurements.Count));
        // Measurements are told apart by reference: two messages can carry equal ones, and each names its own message.
        var sourceOf = new Dictionary<Measurement, MeasurementSource>(ReferenceEqualityComparer.Instance);
        foreach (var group in groups)
        {
            foreach (var measurement in group.Measurements)
            {
                sourceOf[measurement] = group.Source;
            }
        }

        await PersistContainedAsync(groups, deadLetters, m => sourceOf.GetValueOrDefault(m), waitingOnServer, cancellationToken).ConfigureAwait(false);
        foreach (var deadLetter in deadLetters)
        {
            metrics.Errors.Add(1, new KeyValuePair<string, object?>("reason", deadLetter.Code));
        }

        return deadLetters;
    }

    /// <summary>One measurement group of a hub message: its bytes (what a dead letter keeps) and its measurements.</summary>
    private sealed record HubGroup(string Key, byte[] Payload, IReadOnlyList<Measurement> Measurements, MeasurementSource Source)
    {
        public Confluent.Kafka.Headers? Envelope { get; init; }
    }

    private static MeasurementGroupKey KeyOf(Measurement m) => new(m.DeviceId, m.PatientId, m.EncounterId, m.CorrelationId, m.Type);

    /// <summary>The groups a hub message packs; none, and the whole message as a dead letter, when it is not even valid JSON.</summary>
    private static IReadOnlyList<ReadOnlyMemory<byte>> SplitOrDeadLetter(string key, byte[] payload, List<WriterDeadLetter> deadLetters)
    {
        try
        {
            return PackedMessage.Split(payload);
        }
        catch (Exception ex)
        {
            // Whatever the splitter throws on these bytes (a JsonException for a broken array), they are not groups.
            deadLetters.Add(new WriterDeadLetter(key, payload, WriterErrorCodes.InvalidHubMessage, FhirErrorCodes.Describe("read", ex)));
            return [];
        }
    }

    /// <summary>The group, or null and a dead letter when the bytes are not a measurement group the writer can write.</summary>
    private static HubGroup? Read(string key, ReadOnlyMemory<byte> bytes, MeasurementSource source, List<WriterDeadLetter> deadLetters)
    {
        string problem;
        try
        {
            var (_, measurements) = MeasurementGroupJson.Deserialize(bytes.Span);
            if (Check(measurements) is not { } found)
            {
                return new HubGroup(measurements[0].DeviceId, bytes.ToArray(), measurements, source);
            }

            problem = found;
        }
        catch (Exception ex)
        {
            // Anything the reader throws on these bytes says they are not a group; the type and a bounded message say why.
            problem = FhirErrorCodes.Describe("read", ex);
        }

        deadLetters.Add(new WriterDeadLetter(key, bytes.ToArray(), WriterErrorCodes.InvalidHubMessage, problem));
        return null;
    }

    /// <summary>Why the group cannot be written (empty, an id that is empty or too long), or null.</summary>
    private static string? Check(IReadOnlyList<Measurement> measurements)
    {
        if (measurements.Count == 0)
        {
            return "A measurement group without measurements.";
        }

        foreach (var m in measurements)
        {
            if (m.Type.Length == 0 || m.DeviceId.Length == 0)
            {
                return "A measurement with an empty Type or DeviceId.";
            }

            foreach (var (name, value) in new[] { ("Type", m.Type), ("DeviceId", m.DeviceId), ("PatientId", m.PatientId), ("EncounterId", m.EncounterId), ("CorrelationId", m.CorrelationId) })
            {
                if (value?.Length > MaxIdentifierLength)
                {
                    return $"A measurement's {name} has {value.Length} characters, more than the {MaxIdentifierLength} an identifier may have.";
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Persists the groups; the persister returns the ones it failed. When the batch as a whole throws what no group
    /// should cause (a bug, or a bundle the server refuses as a whole, 400/413), each half is tried on its own, down
    /// to the single group, which is then a dead letter: whatever it is, it cannot hold the partition.
    /// </summary>
    private async Task PersistContainedAsync(List<HubGroup> groups, List<WriterDeadLetter> deadLetters, Func<Measurement, MeasurementSource?> sourceOf,
        Action<bool>? waitingOnServer, CancellationToken cancellationToken)
    {
        var work = new Stack<List<HubGroup>>();
        if (groups.Count > 0)
        {
            work.Push(groups);
        }

        while (work.TryPop(out var batch))
        {
            string code, reason;
            try
            {
                var result = await PersistAsync(batch.SelectMany(g => g.Measurements).ToList(), sourceOf, waitingOnServer, cancellationToken).ConfigureAwait(false);
                metrics.Observations.Add(result.Created, new KeyValuePair<string, object?>("outcome", "created"));
                metrics.Observations.Add(result.Updated, new KeyValuePair<string, object?>("outcome", "updated"));
                metrics.Observations.Add(result.Unchanged, new KeyValuePair<string, object?>("outcome", "unchanged"));
                metrics.Provenance.Add(result.ProvenanceWritten, new KeyValuePair<string, object?>("outcome", "written"));
                metrics.Provenance.Add(result.ProvenanceFailed, new KeyValuePair<string, object?>("outcome", "failed"));
                // A failed measurement fails every hub group with a measurement of that key and time (the persister
                // merges them; a group fails as a whole, or only some of its times when they have no Patient association).
                var failed = new Dictionary<(MeasurementGroupKey, DateTime), PersistError>();
                foreach (var error in result.Errors)
                {
                    foreach (var measurement in error.Group.Measurements)
                    {
                        failed.TryAdd((error.Group.Key, measurement.OccurrenceTimeUtc), error);
                    }
                }

                // Freshness counts what reached the chart: a measurement the persister failed is a dead letter, not written.
                metrics.OnPersisted(batch.SelectMany(g => g.Measurements).Where(m => !failed.ContainsKey((KeyOf(m), m.OccurrenceTimeUtc))));

                foreach (var group in batch)
                {
                    if (group.Measurements.Select(m => failed.GetValueOrDefault((KeyOf(m), m.OccurrenceTimeUtc))).FirstOrDefault(e => e is not null) is { } error)
                    {
                        deadLetters.Add(new WriterDeadLetter(group.Key, group.Payload, error.Code, error.Message) { Envelope = group.Envelope });
                    }
                }

                continue;
            }
            catch (FhirRequestException ex) when (ex.IsContentRefused)
            {
                code = FhirErrorCodes.FhirResourceRejected;
                reason = $"The FHIR server refused a request for this group as a whole with HTTP {(int)ex.Status}: {FhirServerClient.SummarizeOutcome(ex.Outcome) ?? "(no OperationOutcome)"}";
                Log.BatchRefused(logger, (int)ex.Status, batch.Count);
            }
            catch (Exception ex) when (ex is not (FhirServerUnavailableException or FhirRequestException) && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                code = FhirErrorCodes.ProcessingError;
                reason = FhirErrorCodes.Describe("persist", ex);
                Log.BatchFailed(logger, ex.GetType().Name, batch.Count);
            }

            if (batch.Count == 1)
            {
                deadLetters.Add(new WriterDeadLetter(batch[0].Key, batch[0].Payload, code, reason) { Envelope = batch[0].Envelope });
            }
            else
            {
                work.Push(batch[(batch.Count / 2)..]);
                work.Push(batch[..(batch.Count / 2)]);
            }
        }
    }

    private async Task<PersistResult> PersistAsync(List<Measurement> measurements, Func<Measurement, MeasurementSource?> sourceOf, Action<bool>? waitingOnServer,
        CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                var result = shadow is not null
                    ? await shadow.CompareAsync(measurements, cancellationToken).ConfigureAwait(false)
                    : await persister.PersistAsync(measurements, sourceOf, cancellationToken).ConfigureAwait(false);
                health.Healthy("fhir");
                return result;
            }
            catch (FhirServerUnavailableException ex) when (ex.TokenUnavailable)
            {
                // Unhealthy, as a refusal: most often an expired secret or a wrong identity, which an operator must fix.
                health.Unhealthy(FhirHealthCheck.Name, FhirHealthCheck.TokenReason(ex.InnerException!.GetType().Name));
                Log.Unavailable(logger, ex.Message, backoff);
            }
            catch (FhirServerUnavailableException ex)
            {
                health.Degraded("fhir", "unavailable; the batch is kept and retried");
                Log.Unavailable(logger, ex.Message, backoff);
            }
            catch (FhirRequestException ex) when (!ex.IsContentRefused)
            {
                // The server refused the writer (401, 403, 404 on the base URL): configuration, not data.
                health.Unhealthy("fhir", $"the FHIR server refused the writer with HTTP {(int)ex.Status}");
                Log.Refused(logger, (int)ex.Status, backoff);
            }

            waitingOnServer?.Invoke(true);
            await Task.Delay(backoff, time, cancellationToken).ConfigureAwait(false);
            waitingOnServer?.Invoke(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxBackoff.Ticks));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "The FHIR server is unavailable ({Error}); nothing is acknowledged, next try in {Backoff}.")]
        public static partial void Unavailable(ILogger logger, string error, TimeSpan backoff);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "The FHIR server refused the writer's request with HTTP {Status} (check the URL and credentials); nothing is acknowledged, next try in {Backoff}.")]
        public static partial void Refused(ILogger logger, int status, TimeSpan backoff);

        [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "The FHIR server refused a request of a batch of {Groups} groups as a whole with HTTP {Status}; halving the batch to isolate the group that causes it.")]
        public static partial void BatchRefused(ILogger logger, int status, int groups);

        [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "Persisting a batch of {Groups} groups failed with {Exception}; halving the batch to isolate the group that causes it.")]
        public static partial void BatchFailed(ILogger logger, string exception, int groups);
    }
}
