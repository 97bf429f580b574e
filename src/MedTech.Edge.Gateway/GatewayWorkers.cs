using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Ingest: the group-commit loop and every registered <see cref="IIngestSource"/> (the MQTT broker, embedded or the
/// subscription to an external one; any other protocol). The sources start, in registration order, after the commit
/// loop and before the host counts as started, and stop, in reverse, before the commit loop does, so every
/// acknowledged message was committed.
/// </summary>
public sealed class IngestWorker(InboxWriter inbox, IEnumerable<IIngestSource> sources) : BackgroundService
{
    private readonly IIngestSource[] sources = [.. sources];

    // Those whose start was called, a failed one too (it may have opened a listener before it failed).
    private readonly Stack<IIngestSource> started = new();

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
        foreach (var source in sources)
        {
            started.Push(source);
            await source.StartAsync().ConfigureAwait(false);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        while (started.TryPop(out var source))
        {
            await source.StopAsync().ConfigureAwait(false);
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => inbox.RunAsync(stoppingToken);
}

/// <summary>
/// Keeps a worker alive through an unexpected exception (data the code did not foresee, a bug): logs the exception's
/// type (never its message, which may quote patient data), counts it, waits (1 s, doubling to 30 s while it keeps
/// failing) and lets the worker go on. The failing item itself is contained by its stage (dead letters), so a
/// repeated fault here is the store or the system, and the backoff keeps the log readable meanwhile.
/// </summary>
public sealed partial class WorkerGuard(string worker, GatewayMetrics metrics, ILogger logger)
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private TimeSpan backoff = FirstBackoff;

    /// <summary>Runs <paramref name="step"/>; returns its result, or <paramref name="onFault"/> after a contained fault and the backoff.</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> step, T onFault, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(step);
        try
        {
            var result = await step().ConfigureAwait(false);
            backoff = FirstBackoff;
            return result;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is not HubFatalException)
        {
            Log.Fault(logger, worker, ex.GetType().FullName ?? ex.GetType().Name, backoff);
            metrics.WorkerFaults.Add(1, new KeyValuePair<string, object?>("worker", worker));
            await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            return onFault;
        }
    }

    public Task RunAsync(Action step, CancellationToken stoppingToken) => RunAsync(() =>
    {
        step();
        return Task.FromResult(true);
    }, false, stoppingToken);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4102, Level = LogLevel.Error, Message = "The {Worker} worker caught {Error}; it goes on after {Backoff}.")]
        public static partial void Fault(ILogger logger, string worker, string error, TimeSpan backoff);
    }
}

/// <summary>Normalize and Group: drains the inbox into the outbox; waits a little when it is empty.</summary>
public sealed class NormalizationWorker(NormalizationStage stage, IOptions<GatewayOptions> options, GatewayMetrics metrics, ILogger<NormalizationWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var guard = new WorkerGuard("normalization", metrics, logger);
        while (!stoppingToken.IsCancellationRequested)
        {
            // A fault already waited its backoff; -1 skips the idle wait.
            var taken = await guard.RunAsync(() => Task.FromResult(stage.RunOnce(options.Value.NormalizationBatchSize)), -1, stoppingToken).ConfigureAwait(false);
            if (taken == 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// Forward: drains the outbox to the hub, backing off (capped, exponential) while the hub is unreachable. A fatal
/// producer error (<see cref="HubFatalException"/>) is not caught: it stops the module with exit code 1, so that the
/// restart policy brings a new producer rather than this one failing every round for good. Any other exception is
/// contained by a <see cref="WorkerGuard"/>.
/// </summary>
public sealed partial class ForwardingWorker(IOutboxForwarder forwarder, GatewayMetrics metrics, ModuleHealth health, IOptions<HubOptions> options, ILogger<ForwardingWorker> logger,
    TimeProvider? time = null) : BackgroundService
{
    private readonly TimeProvider time = time ?? TimeProvider.System;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        var guard = new WorkerGuard("forwarding", metrics, logger);
        while (!stoppingToken.IsCancellationRequested)
        {
            await guard.RunAsync(async () =>
            {
                backoff = await ForwardOnceAsync(backoff, stoppingToken).ConfigureAwait(false);
                return true;
            }, false, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>One round; returns the backoff for the next (reset after success, doubled while the hub is unavailable).</summary>
    private async Task<TimeSpan> ForwardOnceAsync(TimeSpan backoff, CancellationToken stoppingToken)
    {
        try
        {
            var forwarded = await forwarder.ForwardOnceAsync(stoppingToken).ConfigureAwait(false);
            metrics.Forwarded.Add(forwarded.Acknowledged);
            metrics.OnAcknowledged(forwarded.AcknowledgedCommittedUtc, DateTime.UtcNow);
            metrics.DeadLettered.Add(forwarded.Rejected, new KeyValuePair<string, object?>("reason", OutboxForwarder.RejectedCode), GatewayMetrics.ForwardStage);
            if (forwarded == default)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), time, stoppingToken).ConfigureAwait(false);
            }

            backoff = TimeSpan.FromMilliseconds(200);
            health.Healthy("hub");
        }
        catch (Exception ex) when (ex is HubUnavailableException or TimeoutException or Confluent.Kafka.KafkaException or Azure.Messaging.EventHubs.EventHubsException)
        {
            Log.HubUnavailable(logger, ex.GetType().Name, backoff);
            health.Degraded("hub", $"unavailable ({ex.GetType().Name}); the outbox keeps everything");
            await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxBackoff.Ticks));
        }

        return backoff;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "The hub is unavailable ({Error}); the outbox keeps everything, next try in {Backoff}.")]
        public static partial void HubUnavailable(ILogger logger, string error, TimeSpan backoff);
    }
}

/// <summary>Maintenance: drops unsent data past its time-to-live (counted) and gives disk space back after a drained backlog.</summary>
public sealed class MaintenanceWorker(IBufferUpkeep store, IOptions<GatewayOptions> options, GatewayMetrics metrics, ILogger<MaintenanceWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var guard = new WorkerGuard("maintenance", metrics, logger);
        using var timer = new PeriodicTimer(options.Value.MaintenanceInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await guard.RunAsync(() =>
            {
                store.ExpireOld();
                store.ReclaimSpace();
            }, stoppingToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// Deletes the outbox batches the hub (or the in-process writer) has, each second; the store purges only once a
/// backlog has nearly drained, so a catch-up after an outage is not slowed by deletes.
/// </summary>
public sealed class PurgeWorker(IBufferUpkeep store, GatewayMetrics metrics, ILogger<PurgeWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var guard = new WorkerGuard("purge", metrics, logger);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await guard.RunAsync(() => store.PurgeDelivered(), stoppingToken).ConfigureAwait(false);
        }
    }
}

/// <summary>Checks the device mapping file for changes; a valid update replaces the mapping in use, an invalid one is logged and ignored.</summary>
public sealed class MappingReloadWorker(DeviceMappingSource mapping, IOptions<GatewayOptions> options, GatewayMetrics metrics, ILogger<MappingReloadWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var guard = new WorkerGuard("mapping_reload", metrics, logger);
        using var timer = new PeriodicTimer(options.Value.MappingReloadInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await guard.RunAsync(() => mapping.ReloadIfChanged(), stoppingToken).ConfigureAwait(false);
        }
    }
}
