using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Persist;

/// <summary>
/// Transform and Persist for one batch: groups the measurements, resolves identity (one batch bundle runs the
/// Device and Encounter searches of the groups not cached), builds or merges every Observation the batch touches,
/// and writes them with few requests: one batch bundle reads the Observations (by their deterministic ids; cached
/// ones are not read), one batch bundle PUTs the changed ones, with If-Match on updates. 409/412 (another writer)
/// and per-entry 429/5xx cause a re-read, re-merge and re-write of those entries. A re-delivered batch changes
/// nothing, so nothing is written. Groups that cannot be transformed (any exception but the server's unavailability),
/// that the server rejects, or whose entries still fail after <see cref="PersistenceOptions.MaxWriteRounds"/> while
/// others were written, are returned as errors; the rest of the batch is persisted. With
/// <see cref="PersistenceOptions.Provenance"/> on, every write bundle gets its Provenance (see <see cref="WriteProvenanceAsync"/>).
/// </summary>
public sealed partial class ObservationPersister : IDisposable
{
    /// <summary>How many of an Observation's newest versions a history read merges (bounded: an hourly Observation has thousands).</summary>
    private const int HistoryVersions = 20;

    private readonly FhirServerClient server;
    private readonly IdentityResolver identity;
    private readonly FhirMapping mapping;
    private readonly PersistenceOptions options;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly MemoryCache observations;

    public ObservationPersister(FhirServerClient server, IdentityResolver identity, FhirMapping mapping, PersistenceOptions options,
        ILogger<ObservationPersister> logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.server = server;
        this.identity = identity;
        this.mapping = mapping;
        this.options = options;
        this.logger = logger;
        time = timeProvider ?? TimeProvider.System;
        observations = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.ObservationCacheSize });
    }

    public Task<PersistResult> PersistAsync(IReadOnlyList<Measurement> measurements, CancellationToken cancellationToken) =>
        PersistAsync(measurements, null, cancellationToken);

    /// <param name="sourceOf">The hub message (and gateway) each measurement came from, for the Provenance; null: none named.</param>
    public async Task<PersistResult> PersistAsync(IReadOnlyList<Measurement> measurements, Func<Measurement, MeasurementSource?>? sourceOf, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        var groups = MeasurementGrouper.Group(measurements);
        var ahead = await identity.SearchAheadAsync(groups.Where(g => mapping.Find(g.Key.Type) is not null).Select(g => g.Key), options.MaxBundleEntries, cancellationToken).ConfigureAwait(false);
        var (pending, errors) = await ObservationPlan.CreateAsync(groups, mapping, (group, ct) => identity.ResolveAsync(group, ahead, ct), cancellationToken).ConfigureAwait(false);
        var bundles = new List<List<ObservationProvenance.Written>>();
        var (created, updated, unchanged) = await WriteAsync(pending, errors, bundles, cancellationToken).ConfigureAwait(false);
        var (provenanceWritten, provenanceFailed) = options.Provenance ? await WriteProvenanceAsync(bundles, sourceOf, cancellationToken).ConfigureAwait(false) : (0, 0);
        var failedGroups = errors.Keys.Select(k => k.Group).Distinct().Count();
        Log.BatchPersisted(logger, measurements.Count, created, updated, unchanged, failedGroups);
        return new PersistResult(created, updated, unchanged, errors.Values.ToList()) { ProvenanceWritten = provenanceWritten, ProvenanceFailed = provenanceFailed };
    }

    /// <param name="bundles">Gets, per write bundle, the Observations it wrote and their new versions.</param>
    private async Task<(int Created, int Updated, int Unchanged)> WriteAsync(List<PendingObservation> pending,
        Dictionary<(MeasurementGroup Group, string Code), PersistError> errors, List<List<ObservationProvenance.Written>> bundles, CancellationToken cancellationToken)
    {
        int created = 0, updated = 0, unchanged = 0;
        // Deleted ones (410) are created again from this batch alone: the samples of the versions before the deletion
        // must not come back, and a server may keep no deletion in the history (Medplum's memory store), so they are
        // never reconciled.
        var gone = new HashSet<string>(StringComparer.Ordinal);
        var stored = await ReadAsync(pending.Where(p => !observations.TryGetValue(p.Id, out _)).Select(p => p.Id), cancellationToken, gone).ConfigureAwait(false);
        foreach (var p in pending)
        {
            if (observations.TryGetValue(p.Id, out Observation? cached))
            {
                stored[p.Id] = cached;
            }
        }

        var limits = options.Limits;
        var lastStatus = new Dictionary<PendingObservation, int>();
        var kept = new List<ObservationProvenance.Written>();
        var createdSamples = new List<PendingObservation>();
        for (var round = 1; pending.Count > 0; round++)
        {
            var writes = new List<(PendingObservation Pending, Observation Observation, bool IsCreate)>();
            foreach (var p in pending)
            {
                try
                {
                    var existing = stored.GetValueOrDefault(p.Id);
                    if (p.Build(existing, time.GetUtcNow(), limits) is { } observation)
                    {
                        writes.Add((p, observation, existing is null));
                    }
                    else
                    {
                        unchanged++;
                        // Already in the version the server has: written by this batch before a crash or a hand-over
                        // (the Provenance may not have followed), or by a duplicate. Its Provenance is written (again).
                        kept.Add(new(p, existing!.Meta?.VersionId, existing.Status == ObservationStatus.Final));
                    }
                }
                catch (TransformException ex)
                {
                    ObservationPlan.Fail(p, ex.Code, ex.Message, errors);
                }
                catch (Exception ex) when (ObservationPlan.IsContained(ex, cancellationToken))
                {
                    ObservationPlan.Fail(p, FhirErrorCodes.ProcessingError, FhirErrorCodes.Describe("transform", ex), errors);
                }
            }

            var retry = new List<PendingObservation>();
            var transient = false;
            foreach (var chunk in writes.Chunk(options.MaxBundleEntries))
            {
                var results = await server.WriteBatchAsync(PutBundle(chunk.Select(w => (w.Observation, w.IsCreate))), cancellationToken).ConfigureAwait(false);
                var written = new List<ObservationProvenance.Written>();
                bundles.Add(written);
                for (var i = 0; i < chunk.Length; i++)
                {
                    var (p, observation, isCreate) = chunk[i];
                    var result = i < results.Count ? results[i] : new BatchEntryResult(0, null, null);
                    if (result.IsSuccess)
                    {
                        _ = isCreate ? created++ : updated++;
                        written.Add(new(p, result.VersionId, isCreate));
                        Remember(p.Id, observation, result.VersionId);
                        if (isCreate && p.MergesSamples && !gone.Contains(p.Id))
                        {
                            createdSamples.Add(p);
                        }
                    }
                    else if (result.Status is 409 or 412 or 408 or 429 or >= 500 or 0)
                    {
                        transient |= result.Status is not (409 or 412);
                        observations.Remove(p.Id);
                        lastStatus[p] = result.Status;
                        retry.Add(p);
                    }
                    else
                    {
                        // The outcome summary carries no diagnostics (servers echo values there), so it may go with the group.
                        Log.ObservationRejected(logger, result.Status);
                        ObservationPlan.Fail(p, FhirErrorCodes.FhirResourceRejected, $"The FHIR server refused the Observation with HTTP {result.Status}: {result.Outcome ?? "(no OperationOutcome)"}", errors);
                    }
                }
            }

            if (retry.Count == 0)
            {
                break;
            }

            if (round >= options.MaxWriteRounds)
            {
                if (created + updated == 0)
                {
                    // Nothing of the batch was written: the server is in trouble, not these entries. Retried without limit.
                    throw new FhirServerUnavailableException($"{retry.Count} Observation(s) still conflicted or failed after {round} write rounds; the batch must be retried.");
                }

                // The server wrote other Observations of this batch meanwhile: it is up, and these entries are the problem.
                foreach (var p in retry)
                {
                    Log.ObservationGaveUp(logger, lastStatus[p], round);
                    ObservationPlan.Fail(p, FhirErrorCodes.FhirResourceRejected,
                        $"The FHIR server failed the Observation in each of {round} write rounds (last with HTTP {lastStatus[p]}) while it wrote others of the batch.", errors);
                }

                break;
            }

            // Back off exponentially after server trouble; after a conflict only a little, with jitter, so writers
            // contending for one Observation stop colliding in lockstep.
            Log.Retrying(logger, retry.Count, round);
            var delay = transient ? 200 * Math.Pow(2, round - 1) : Random.Shared.Next(5, 25) * round;
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(delay, 10_000)), time, cancellationToken).ConfigureAwait(false);

            // Another writer changed these since we read them: read the current versions and merge into those. Where
            // that writer's change was a create replacing what we wrote (see ReconcileCreatesAsync), the samples it
            // dropped are in the recent history: SampledData Observations merge those versions in first.
            var fresh = await ReadAsync(retry.Select(p => p.Id), cancellationToken).ConfigureAwait(false);
            var conflicted = retry.Where(p => p.MergesSamples && lastStatus[p] is 409 or 412 && fresh.ContainsKey(p.Id) && !gone.Contains(p.Id)).Select(p => p.Id).ToList();
            var histories = conflicted.Count > 0 ? await HistoryAsync(conflicted, cancellationToken).ConfigureAwait(false) : [];
            foreach (var p in retry)
            {
                stored[p.Id] = histories.GetValueOrDefault(p.Id) is { Count: > 1 } versions ? Reconciled(p, versions, errors) ?? versions[^1] : fresh.GetValueOrDefault(p.Id);
            }

            pending = retry;
        }

        bundles.AddRange(kept.Chunk(options.MaxBundleEntries).Select(chunk => chunk.ToList()));
        await ReconcileCreatesAsync(createdSamples, errors, bundles, cancellationToken).ConfigureAwait(false);
        return (created, updated, unchanged);
    }

    /// <summary>
    /// Puts back the samples a create replaced. A create is a PUT to MedTech's id without a condition (R4 has no
    /// conditional create that keeps a client's id), so two writers that both found the Observation missing (the old
    /// and new owner of a partition across a rebalance, a request still on the wire) both create it, and the later
    /// PUT drops the earlier one's samples. One batch of history reads (only when the batch created SampledData
    /// Observations) finds such Observations; each gets the samples of all its versions since its last deletion,
    /// written conditionally on the newest version and retried on a conflict like any update.
    /// </summary>
    private async Task ReconcileCreatesAsync(List<PendingObservation> created, Dictionary<(MeasurementGroup Group, string Code), PersistError> errors,
        List<List<ObservationProvenance.Written>> bundles, CancellationToken cancellationToken)
    {
        for (var round = 1; created.Count > 0 && round <= options.MaxWriteRounds; round++)
        {
            var histories = await HistoryAsync(created.Select(p => p.Id), cancellationToken).ConfigureAwait(false);
            var writes = new List<(PendingObservation Pending, Observation Observation)>();
            foreach (var p in created)
            {
                if (histories.GetValueOrDefault(p.Id) is { Count: > 1 } versions && Reconciled(p, versions, errors) is { } merged)
                {
                    writes.Add((p, merged));
                }
            }

            created = [];
            foreach (var chunk in writes.Chunk(options.MaxBundleEntries))
            {
                var results = await server.WriteBatchAsync(PutBundle(chunk.Select(w => (w.Observation, false))), cancellationToken).ConfigureAwait(false);
                var written = new List<ObservationProvenance.Written>();
                bundles.Add(written);
                for (var i = 0; i < chunk.Length; i++)
                {
                    var (p, observation) = chunk[i];
                    var result = i < results.Count ? results[i] : new BatchEntryResult(0, null, null);
                    if (result.IsSuccess)
                    {
                        written.Add(new(p, result.VersionId, false));
                        Remember(p.Id, observation, result.VersionId);
                    }
                    else
                    {
                        // Changed again meanwhile (or failed): read the history again; the last round gives up, logged.
                        observations.Remove(p.Id);
                        created.Add(p);
                        Log.ReconcileRetry(logger, result.Status, round);
                    }
                }
            }
        }
    }

    /// <summary>
    /// <see cref="PendingObservation.Reconcile"/>, or null. Samples that cannot be merged back (over the size limits)
    /// fail the pending Observation's groups with the reason, so a replaced writer's loss is a dead letter, not silent.
    /// </summary>
    private Observation? Reconciled(PendingObservation pending, List<Observation> versions, Dictionary<(MeasurementGroup Group, string Code), PersistError> errors)
    {
        try
        {
            return pending.Reconcile(versions, options.Limits);
        }
        catch (TransformException ex)
        {
            Log.ReconcileFailed(logger, ex.Code);
            ObservationPlan.Fail(pending, ex.Code, "Samples another writer's create replaced could not be merged back: " + ex.Message, errors);
            return null;
        }
        catch (Exception ex) when (ObservationPlan.IsContained(ex, CancellationToken.None))
        {
            Log.ReconcileFailed(logger, ex.GetType().Name);
            return null;
        }
    }

    /// <summary>
    /// The recent versions of each Observation (up to <see cref="HistoryVersions"/>, since its last deletion), oldest
    /// first, with batch bundles of history reads. Recent is enough: a replaced create is found right after it.
    /// </summary>
    private async Task<Dictionary<string, List<Observation>>> HistoryAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, List<Observation>>();
        foreach (var chunk in ids.Chunk(options.MaxBundleEntries))
        {
            var entries = await server.GetBatchAsync(chunk.Select(id => $"Observation/{id}/_history?_count={HistoryVersions}").ToList(), cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < chunk.Length; i++)
            {
                if (entries[i]?.Resource is not Bundle history)
                {
                    // A server that keeps no history (or fails to read it): the writes stand as they are, not retried.
                    Log.HistoryUnreadable(logger, FhirServerClient.Status(entries[i]?.Response?.Status));
                    continue;
                }

                // Newest first; a deletion (an entry without the resource) ends what counts.
                found[chunk[i]] = history.Entry.TakeWhile(e => e.Resource is Observation).Select(e => (Observation)e.Resource!).Reverse().ToList();
            }
        }

        return found;
    }

    /// <summary>
    /// Writes the Provenance of each write bundle that wrote something, all in one batch of PUTs after the writes:
    /// one request per persisted batch, not one per Observation. It cannot go in the write bundle itself: a batch
    /// (which the writer uses, so that one refused Observation does not fail the others) resolves no references between
    /// its entries, and even a transaction gives a new version only in its response, while the targets must name the
    /// versions written. It is written only after the server has the Observations, so it never names a version that
    /// does not exist. A Provenance the server refuses or cannot take (after the client's own retries of 429/5xx and
    /// network faults) is counted and logged without content, and not retried further: the Observations are written
    /// and stay, and a retry of the batch would change nothing and so write no Provenance either.
    /// </summary>
    private async Task<(int Written, int Failed)> WriteProvenanceAsync(List<List<ObservationProvenance.Written>> bundles,
        Func<Measurement, MeasurementSource?>? sourceOf, CancellationToken cancellationToken)
    {
        int written = 0, failed = 0;
        string? firstFailure = null;
        var expected = bundles.Where(b => b.Count > 0).Sum(b => b.Select(w => w.IsCreate).Distinct().Count());
        try
        {
            var now = time.GetUtcNow();
            var provenances = bundles.SelectMany(b => ObservationProvenance.Create(b, now, options.ProvenanceAgent, sourceOf)).ToList();
            foreach (var chunk in provenances.Chunk(options.MaxBundleEntries))
            {
                try
                {
                    var results = await server.WriteBatchAsync(ProvenanceBundle(chunk), cancellationToken).ConfigureAwait(false);
                    for (var i = 0; i < chunk.Length; i++)
                    {
                        if (i < results.Count && results[i].IsSuccess)
                        {
                            written++;
                        }
                        else
                        {
                            failed++;
                            firstFailure ??= $"HTTP {(i < results.Count ? results[i].Status : 0)}";
                        }
                    }
                }
                catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
                {
                    failed += chunk.Length;
                    firstFailure ??= ex is FhirRequestException refused ? $"HTTP {(int)refused.Status}" : ex.GetType().Name;
                }
            }
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // Building them failed (a bug): the Observations are written all the same.
            failed = expected - written;
            firstFailure ??= ex.GetType().Name;
        }

        if (failed > 0)
        {
            Log.ProvenanceFailed(logger, failed, written + failed, firstFailure!);
        }

        return (written, failed);
    }

    private static Bundle ProvenanceBundle(IEnumerable<Provenance> provenances)
    {
        var bundle = new Bundle { Type = Bundle.BundleType.Batch };
        bundle.Entry.AddRange(provenances.Select(p => new Bundle.EntryComponent
        {
            Resource = p,
            Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = $"Provenance/{p.Id}" },
        }));
        return bundle;
    }

    /// <summary>Reads Observations by id with batch bundles of GETs; absent ones are not in the result.</summary>
    /// <param name="gone">Gets the ids the server answered 410 (deleted) for, when given.</param>
    private async Task<Dictionary<string, Observation?>> ReadAsync(IEnumerable<string> ids, CancellationToken cancellationToken, HashSet<string>? gone = null)
    {
        var found = new Dictionary<string, Observation?>();
        foreach (var chunk in ids.Chunk(options.MaxBundleEntries))
        {
            var entries = await server.GetBatchAsync(chunk.Select(id => $"Observation/{id}").ToList(), cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < chunk.Length; i++)
            {
                var entry = entries[i];
                switch (FhirServerClient.Status(entry?.Response?.Status))
                {
                    case 200 when entry!.Resource is Observation observation:
                        found[chunk[i]] = observation;
                        Remember(chunk[i], observation, observation.Meta?.VersionId);
                        break;
                    case 410:
                        gone?.Add(chunk[i]);
                        break;
                    case 404:
                        break;
                    case var status:
                        throw new FhirServerUnavailableException($"Reading an Observation failed with HTTP {status}; the batch must be retried.");
                }
            }
        }

        return found;
    }

    private static Bundle PutBundle(IEnumerable<(Observation Observation, bool IsCreate)> writes)
    {
        var bundle = new Bundle { Type = Bundle.BundleType.Batch };
        bundle.Entry.AddRange(writes.Select(w => new Bundle.EntryComponent
        {
            Resource = w.Observation,
            Request = new Bundle.RequestComponent
            {
                Method = Bundle.HTTPVerb.PUT,
                Url = $"Observation/{w.Observation.Id}",
                // Updates are conditional on the version read, so a concurrent writer's change is never overwritten.
                IfMatch = !w.IsCreate && w.Observation.Meta?.VersionId is { } version ? $"W/\"{version}\"" : null,
            },
        }));
        return bundle;
    }

    /// <summary>
    /// Keeps the Observation as the server now has it (what was sent, at the version it got), so the next batch for
    /// it needs no read; without a version it cannot be written conditionally, so it is not kept.
    /// </summary>
    private void Remember(string id, Observation observation, string? versionId)
    {
        if (versionId is null)
        {
            observations.Remove(id);
            return;
        }

        observation.Meta ??= new Meta();
        observation.Meta.VersionId = versionId;
        observations.Set(id, observation, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = options.ObservationCacheExpiry });
    }

    public void Dispose() => observations.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Persisted {Measurements} measurements: {Created} Observations created, {Updated} updated, {Unchanged} unchanged, {Failed} groups failed.")]
        public static partial void BatchPersisted(ILogger logger, int measurements, int created, int updated, int unchanged, int failed);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "The FHIR server rejected an Observation with HTTP {Status}; its measurement groups go to the error output.")]
        public static partial void ObservationRejected(ILogger logger, int status);

        [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "The FHIR server failed an Observation in each of {Rounds} write rounds (last with HTTP {Status}) while it wrote others; its measurement groups go to the error output.")]
        public static partial void ObservationGaveUp(ILogger logger, int status, int rounds);

        [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "{Failed} of {Total} Provenance resources of a batch were not written ({Reason}); the Observations they describe are written and stay.")]
        public static partial void ProvenanceFailed(ILogger logger, int failed, int total, string reason);

        [LoggerMessage(EventId = 3106, Level = LogLevel.Warning, Message = "Merging back the samples of an Observation version another writer's create replaced failed ({Reason}); the newest version stays as written.")]
        public static partial void ReconcileFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 3107, Level = LogLevel.Information, Message = "Writing the merged versions of an Observation two writers created answered HTTP {Status} in round {Round}; reading its history again.")]
        public static partial void ReconcileRetry(ILogger logger, int status, int round);

        [LoggerMessage(EventId = 3108, Level = LogLevel.Warning, Message = "Reading an Observation's history answered HTTP {Status}; samples another writer's create replaced cannot be merged back.")]
        public static partial void HistoryUnreadable(ILogger logger, int status);

        [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "{Count} Observations conflicted or failed transiently in write round {Round}; re-reading and retrying.")]
        public static partial void Retrying(ILogger logger, int count, int round);
    }
}
