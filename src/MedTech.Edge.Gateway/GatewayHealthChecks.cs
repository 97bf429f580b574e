using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The buffer: its file answers (a store that cannot be read throws, and the check shows the exception's type), the
/// last write worked (the ingest sources' reports: a full disk is unhealthy), and it is not full: at
/// <see cref="BufferOptions.MaxMessages"/> or <see cref="BufferOptions.MaxBytes"/>, or from 90 % while a commit the size
/// of the last one refused or evicting would still not fit (a large message does not fit in the last few per cent), new messages are refused
/// or the oldest evicted (unhealthy: data waits at the devices or is lost); from 90 % otherwise degraded (the uplink's
/// outage is eating the room).
/// </summary>
public sealed class BufferHealthCheck(IBufferUpkeep store, BufferOptions options, ModuleHealth health) : IHealthCheck
{
    public const string Name = "buffer";

    /// <summary>The share of either limit from which the buffer is degraded.</summary>
    public const double NearlyFull = 0.9;

    // Off the probe's thread, one read at a time: the check's time-out answers while a write holds the file's lock.
    private readonly BufferStatsReader reader = new(store);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var written = ComponentHealthCheck.Report(health, Name, "ok");
        var stats = await reader.ReadAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var messages = (double)(stats.Inbox + stats.OutboxMessages) / options.MaxMessages;
        var bytes = (double)stats.UnsentBytes / options.MaxBytes;
        var share = Math.Max(messages, bytes);
        var what = messages >= bytes ? "messages" : "bytes";
        var full = share >= 1 || (stats.AtCapacity && share >= NearlyFull)
            ? HealthCheckResult.Unhealthy(options.CapacityPolicy == CapacityPolicy.EvictOldest
                ? $"full ({what}): the oldest unsent data is evicted"
                : $"full ({what}): new messages are refused and wait at the devices")
            : share >= NearlyFull ? HealthCheckResult.Degraded($"{Math.Floor(share * 100)} % full ({what})") : HealthCheckResult.Healthy("ok");
        // The worse of the two; a write failure's reason first, since it is the cause when both show.
        return written.Status <= full.Status ? written : full;
    }
}

/// <summary>Ingest: every source (the MQTT broker, embedded or external) listens or is connected.</summary>
public sealed class IngestHealthCheck(IEnumerable<IIngestSource> sources) : IHealthCheck
{
    public const string Name = "ingest";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var silent = sources.Where(s => !s.IsListening).Select(s => s.Name).ToList();
        // Degraded, not unhealthy: an external broker that is down is a dependency's outage, and before the ingest
        // worker has started the sources none listens yet.
        return Task.FromResult(silent.Count == 0
            ? HealthCheckResult.Healthy("listening")
            : HealthCheckResult.Degraded($"not listening: {string.Join(", ", silent)}"));
    }
}

/// <summary>The device mapping: loaded and valid at start (else the module does not start); degraded while a changed file is rejected.</summary>
public sealed class DeviceMappingHealthCheck(DeviceMappingSource mapping) : IHealthCheck
{
    public const string Name = "mapping";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(mapping.Rejected is { } rejected
            ? HealthCheckResult.Degraded($"the changed mapping file is not used ({rejected}); the previous mapping stays")
            : HealthCheckResult.Healthy("loaded and valid"));
}
