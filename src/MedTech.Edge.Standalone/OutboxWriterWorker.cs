using MedTech.Edge.Buffer;
using MedTech.Edge.Persist;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Writer;

namespace MedTech.Edge.Standalone;

/// <summary>
/// The in-process writer of the one-process run (no hub): the gateway's LiteDB outbox is the hub. A batch leaves the
/// outbox in the transaction that stores its dead letters, after the FHIR store has the rest of it.
/// </summary>
/// <remarks>
/// Containment: if writing a batch throws, its groups are written one at a time, and a group whose own write throws is
/// a <see cref="ErrorCodes.ProcessingError"/> dead letter. No crash loop: the batch ids in hand are recorded before the write
/// (<see cref="GatewayStore.SetInHand"/>) and cleared with the delivery; after a death each group of them is retried
/// alone with its own record, and one found in hand alone at the next start becomes a <see cref="ErrorCodes.Poison"/> dead
/// letter without being written again. Any other fault is logged by type and retried after a backoff: never the end
/// of the host.
/// </remarks>
public sealed partial class OutboxWriterWorker(IOutbox store, MeasurementWriter writer, IOptions<PersistenceOptions> persistence, WriterMetrics metrics,
    ILogger<OutboxWriterWorker> logger, TimeProvider? timeProvider = null) : BackgroundService
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;
    private InHand? inHandNow;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = FirstBackoff;
        var recovered = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!recovered)
                {
                    await RecoverAsync(stoppingToken).ConfigureAwait(false);
                    recovered = true;
                }

                if (!await WriteOnceAsync(stoppingToken).ConfigureAwait(false))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
                }

                backoff = FirstBackoff;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // A stop is not a death: what was in hand did not kill the process, so it must not count towards Poison.
                ClearInHandQuietly();
                return;
            }
            catch (Exception ex)
            {
                // The store or the system (a group's own failure is a dead letter): the outbox keeps everything meanwhile.
                Log.Fault(logger, ex.GetType().FullName ?? ex.GetType().Name, backoff);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>Writes the oldest batches; false when the outbox is empty.</summary>
    private async Task<bool> WriteOnceAsync(CancellationToken stoppingToken)
    {
        var entries = store.ReadOutbox(persistence.Value.MaxBatchMeasurements);
        if (entries.Count == 0)
        {
            return false;
        }

        SetInHand(new InHand(entries[0].Id, entries[^1].Id, 0, entries[^1].Id));
        List<GroupDeadLetter> deadLetters;
        try
        {
            deadLetters = ToDeadLetters(await writer.WriteAsync(entries.Select(e => (e.Key, e.Payload.ToArray())).ToList(), stoppingToken, WaitingOnServer,
                traces: Traces(entries)).ConfigureAwait(false));
        }
        catch (Exception ex) when (OfTheData(ex, stoppingToken))
        {
            // Nothing was acknowledged; FHIR writes are idempotent, so writing the batch's groups again one by one is safe.
            Log.BatchFailed(logger, entries.Count, ex.GetType().FullName ?? ex.GetType().Name);
            deadLetters = [];
            foreach (var entry in entries)
            {
                deadLetters.AddRange(await WriteAloneAsync(entry, stoppingToken).ConfigureAwait(false));
            }
        }

        store.MarkDelivered(entries.Select(e => e.Id).Distinct().ToList(), deadLetters, GatewayStore.WriterInHand);
        return true;
    }

    /// <summary>Finishes what the process had in hand when it died: each group alone, the one it died on alone a Poison dead letter.</summary>
    private async Task RecoverAsync(CancellationToken stoppingToken)
    {
        if (store.ReadInHand(GatewayStore.WriterInHand) is not { } inHand)
        {
            return;
        }

        inHandNow = inHand;
        var entries = store.ReadOutboxRange(inHand.FirstId, inHand.RecoverUpTo);
        Log.Recovering(logger, entries.Count);
        foreach (var batch in entries.GroupBy(e => e.Id))
        {
            var deadLetters = new List<GroupDeadLetter>();
            var index = 0;
            foreach (var entry in batch)
            {
                var position = (batch.Key, index++);
                var heldAlone = (inHand.FirstId, inHand.Entry);
                if (inHand.Attempt >= 1 && position == heldAlone)
                {
                    Log.Poisoned(logger, batch.Key);
                    deadLetters.Add(DeadLetterOf(entry.Key, entry.Payload, ErrorCodes.Poison, "The process died twice while writing this group (once in a batch, once alone)."));
                    continue;
                }

                // Before the one held alone, a group was already written alone and survived: no record needed.
                if (inHand.Attempt == 0 || position.CompareTo(heldAlone) > 0)
                {
                    SetInHand(new InHand(batch.Key, batch.Key, 1, inHand.RecoverUpTo, position.Item2));
                }

                deadLetters.AddRange(await WriteAloneAsync(entry, stoppingToken).ConfigureAwait(false));
            }

            store.MarkDelivered([batch.Key], deadLetters, GatewayStore.WriterInHand);
        }

        store.ClearInHand(GatewayStore.WriterInHand);
    }

    /// <summary>
    /// In one process there is no hub: transform and persist continue the trace of the gateway's group span stored with
    /// each entry; an entry without one (its group was not sampled) is given none, so the writer makes no span for it.
    /// </summary>
    private static List<System.Diagnostics.ActivityContext>? Traces(IReadOnlyList<OutboxEntry> entries) =>
        Hosting.PipelineTracing.Writer.HasListeners() ? entries.Select(e => Hosting.PipelineTracing.Parse(e.TraceParent)).ToList() : null;

    private async Task<IReadOnlyList<GroupDeadLetter>> WriteAloneAsync(OutboxEntry entry, CancellationToken stoppingToken)
    {
        try
        {
            return ToDeadLetters(await writer.WriteAsync([(entry.Key, entry.Payload.ToArray())], stoppingToken, WaitingOnServer, traces: Traces([entry])).ConfigureAwait(false));
        }
        catch (Exception ex) when (OfTheData(ex, stoppingToken))
        {
            var type = ex.GetType().FullName ?? ex.GetType().Name;
            Log.GroupFailed(logger, entry.Id, type);
            return [DeadLetterOf(entry.Key, entry.Payload, ErrorCodes.ProcessingError, Transform.FhirErrorCodes.Describe("write", ex))];
        }
    }

    /// <summary>Records <paramref name="record"/> in hand and remembers it, so a wait on the server can lift it and put it back.</summary>
    private void SetInHand(InHand record)
    {
        inHandNow = record;
        store.SetInHand(GatewayStore.WriterInHand, record);
    }

    /// <summary>
    /// While the writer only waits out a FHIR outage nothing is in hand (as in the hub writer): a host killed or stopped
    /// twice during one outage must not make a good group Poison.
    /// </summary>
    private void WaitingOnServer(bool waiting)
    {
        if (waiting)
        {
            store.ClearInHand(GatewayStore.WriterInHand);
        }
        else if (inHandNow is { } record)
        {
            store.SetInHand(GatewayStore.WriterInHand, record);
        }
    }

    private void ClearInHandQuietly()
    {
        try
        {
            store.ClearInHand(GatewayStore.WriterInHand);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Left in hand: the next start retries its groups alone, which is safe (FHIR writes are idempotent).
        }
    }

    /// <summary>
    /// An exception a group may cause. Not: the stop, or I/O and HTTP failures, which are the disk's or the network's
    /// and would otherwise dead-letter every group while they last (the worker's backoff retries those).
    /// </summary>
    private static bool OfTheData(Exception ex, CancellationToken stoppingToken) =>
        !(ex is OperationCanceledException && stoppingToken.IsCancellationRequested) && ex is not IOException and not HttpRequestException;

    private List<GroupDeadLetter> ToDeadLetters(IReadOnlyList<WriterDeadLetter> deadLetters) =>
        deadLetters.Select(d => DeadLetterOf(d.Key, d.Payload, d.Code, d.Reason, count: false)).ToList();

    /// <summary>A group's dead letter as the gateway keeps it (<see cref="GroupDeadLetter"/>): replay puts it back in the outbox.</summary>
    private GroupDeadLetter DeadLetterOf(string key, ReadOnlyMemory<byte> payload, string code, string reason, bool count = true)
    {
        if (count)
        {
            // The writer counts its own dead letters; these are the worker's.
            metrics.Errors.Add(1, new KeyValuePair<string, object?>("reason", code));
        }

        var now = time.GetUtcNow().UtcDateTime;
        return new GroupDeadLetter(key, payload, code, reason, now);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5201, Level = LogLevel.Error, Message = "The outbox writer caught {Error}; the outbox keeps everything, next try in {Backoff}.")]
        public static partial void Fault(ILogger logger, string error, TimeSpan backoff);

        [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "Writing {Groups} outbox groups failed ({Error}); writing them one at a time.")]
        public static partial void BatchFailed(ILogger logger, int groups, string error);

        [LoggerMessage(EventId = 5203, Level = LogLevel.Warning, Message = "A group of outbox batch {BatchId} failed ({Error}); dead-lettered as ProcessingError.")]
        public static partial void GroupFailed(ILogger logger, long batchId, string error);

        [LoggerMessage(EventId = 5204, Level = LogLevel.Warning, Message = "The process died while writing; retrying the {Groups} groups it held one at a time.")]
        public static partial void Recovering(ILogger logger, int groups);

        [LoggerMessage(EventId = 5205, Level = LogLevel.Error, Message = "A group of outbox batch {BatchId} was in hand when the process died twice; dead-lettered as Poison.")]
        public static partial void Poisoned(ILogger logger, long batchId);
    }
}
