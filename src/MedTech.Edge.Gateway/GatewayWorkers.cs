using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Hub;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Ingest: the group-commit loop and the broker (embedded, or the subscription to an external one). The broker starts
/// before the host counts as started, and stops before the commit loop does, so every acknowledged message was committed.
/// </summary>
public sealed class IngestWorker(InboxWriter inbox, IMqttIngest broker) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
        await broker.StartAsync().ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await broker.StopAsync().ConfigureAwait(false);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => inbox.RunAsync(stoppingToken);
}

/// <summary>Normalize and Group: drains the inbox into the outbox; waits a little when it is empty.</summary>
public sealed class NormalizationWorker(NormalizationStage stage, IOptions<GatewayOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            if (stage.RunOnce(options.Value.NormalizationBatchSize) == 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// Forward: drains the outbox to the hub, backing off (capped, exponential) while the hub is unreachable. A fatal
/// producer error (<see cref="HubFatalException"/>) is not caught: it stops the module with exit code 1, so that the
/// restart policy brings a new producer rather than this one failing every round for good.
/// </summary>
public sealed partial class ForwardingWorker(OutboxForwarder forwarder, GatewayMetrics metrics, ModuleHealth health, IOptions<HubOptions> options, ILogger<ForwardingWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var forwarded = await forwarder.ForwardOnceAsync(stoppingToken).ConfigureAwait(false);
                metrics.Forwarded.Add(forwarded.Acknowledged);
                metrics.DeadLettered.Add(forwarded.Rejected, new KeyValuePair<string, object?>("reason", OutboxForwarder.RejectedCode));
                if (forwarded == default)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), stoppingToken).ConfigureAwait(false);
                }

                backoff = TimeSpan.FromMilliseconds(200);
                health.Healthy("hub");
            }
            catch (Exception ex) when (ex is HubUnavailableException or TimeoutException or Confluent.Kafka.KafkaException)
            {
                Log.HubUnavailable(logger, ex.GetType().Name, backoff);
                health.Degraded("hub", $"unavailable ({ex.GetType().Name}); the outbox keeps everything");
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.Value.MaxBackoff.Ticks));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "The hub is unavailable ({Error}); the outbox keeps everything, next try in {Backoff}.")]
        public static partial void HubUnavailable(ILogger logger, string error, TimeSpan backoff);
    }
}

/// <summary>Maintenance: drops unsent data past its time-to-live (counted) and gives disk space back after a drained backlog.</summary>
public sealed class MaintenanceWorker(GatewayStore store, IOptions<GatewayOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.MaintenanceInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            store.ExpireOld();
            store.ReclaimSpace();
        }
    }
}

/// <summary>
/// Deletes the outbox batches the hub (or the in-process writer) has, each second; the store purges only once a
/// backlog has nearly drained, so a catch-up after an outage is not slowed by deletes.
/// </summary>
public sealed class PurgeWorker(GatewayStore store) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            store.PurgeDelivered();
        }
    }
}

/// <summary>Checks the device mapping file for changes; a valid update replaces the mapping in use, an invalid one is logged and ignored.</summary>
public sealed class MappingReloadWorker(DeviceMappingSource mapping, IOptions<GatewayOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.MappingReloadInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            mapping.ReloadIfChanged();
        }
    }
}
