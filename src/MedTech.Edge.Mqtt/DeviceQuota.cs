using System.Collections.Concurrent;
using MedTech.Edge.Buffer;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// Per-device limits of the embedded broker (<see cref="DeviceQuotaOptions"/>): a token bucket of publishes per client
/// id, and the device's share of the buffer: what it still has there, in the inbox or behind undelivered outbox batches
/// (<see cref="GatewayStore.HeldBy"/>, in memory, right across restarts).
/// Asked once per publish before it is stored; a refused publish takes nothing from the buffer and nothing from the
/// other devices' buckets.
/// </summary>
public sealed partial class DeviceQuota
{
    /// <summary>Refusal reason (metric label): the device is over its publish rate.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>Refusal reason (metric label): the device holds its whole share of the buffer.</summary>
    public const string OverBufferShare = "buffer_share";

    // Buckets are swept of full ones (a full bucket is what a new one would be) every this many admissions, so client
    // ids seen once do not stay in memory.
    private const int SweepEvery = 4096;
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly DeviceQuotaOptions options;
    private readonly IInboxStore store;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly ConcurrentDictionary<string, Bucket> buckets = new(StringComparer.Ordinal);
    private int admissions;
    private long refusedSinceLog;
    private long lastLog;

    public DeviceQuota(DeviceQuotaOptions options, IInboxStore store, BufferOptions buffer, ILogger<DeviceQuota> logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(buffer);
        this.options = options;
        this.store = store;
        this.logger = logger;
        time = timeProvider ?? TimeProvider.System;
        MaxHeldMessages = Math.Max(1, (long)(options.BufferShare * buffer.MaxMessages));
        MaxHeldBytes = Math.Max(1, (long)(options.BufferShare * buffer.MaxBytes));
        lastLog = time.GetTimestamp();
    }

    /// <summary>Device messages one client id may hold in the buffer (inbox and undelivered outbox) before its publishes are refused.</summary>
    public long MaxHeldMessages { get; }

    /// <summary>Bytes one client id may hold in the buffer (inbox and undelivered outbox) before its publishes are refused.</summary>
    public long MaxHeldBytes { get; }

    /// <summary>
    /// Null when <paramref name="clientId"/> may publish one more message (a token is taken); else why not
    /// (<see cref="OverBufferShare"/>, <see cref="RateLimited"/>). The share is checked first, so a device refused for
    /// its share does not spend its rate too.
    /// </summary>
    public string? Admit(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        var (messages, bytes) = store.HeldBy(clientId);
        var refusal = messages >= MaxHeldMessages || bytes >= MaxHeldBytes ? OverBufferShare
            : options.RatePerSecond > 0 && !TakeToken(clientId) ? RateLimited
            : null;
        if (refusal is not null)
        {
            LogRefusals(refusal);
        }

        return refusal;
    }

    private bool TakeToken(string clientId)
    {
        var now = time.GetTimestamp();
        var bucket = buckets.GetOrAdd(clientId, static (_, state) => new Bucket(state.Burst, state.Now), (options.Burst, Now: now));
        bool taken;
        lock (bucket)
        {
            bucket.Refill(now, options.RatePerSecond, options.Burst, time);
            taken = bucket.Tokens >= 1;
            if (taken)
            {
                bucket.Tokens--;
            }
        }

        if (Interlocked.Increment(ref admissions) % SweepEvery == 0)
        {
            Sweep(now);
        }

        return taken;
    }

    private void Sweep(long now)
    {
        foreach (var (clientId, bucket) in buckets)
        {
            bool full;
            lock (bucket)
            {
                bucket.Refill(now, options.RatePerSecond, options.Burst, time);
                full = bucket.Tokens >= options.Burst;
            }

            if (full)
            {
                // Only this bucket: one a publish has just created under the same id stays.
                buckets.TryRemove(new KeyValuePair<string, Bucket>(clientId, bucket));
            }
        }
    }

    /// <summary>A device at its limit refuses many publishes a second: one log line per <see cref="LogInterval"/> with the count, never a device id.</summary>
    private void LogRefusals(string reason)
    {
        Interlocked.Increment(ref refusedSinceLog);
        var last = Interlocked.Read(ref lastLog);
        var now = time.GetTimestamp();
        if (time.GetElapsedTime(last, now) >= LogInterval && Interlocked.CompareExchange(ref lastLog, now, last) == last)
        {
            Log.Refused(logger, Interlocked.Exchange(ref refusedSinceLog, 0), reason, LogInterval);
        }
    }

    private sealed class Bucket(double tokens, long refilledAt)
    {
        public double Tokens { get; set; } = tokens;

        private long refilledAt = refilledAt;

        public void Refill(long now, double ratePerSecond, int burst, TimeProvider time)
        {
            if (now <= refilledAt)
            {
                return;
            }

            Tokens = Math.Min(burst, Tokens + (time.GetElapsedTime(refilledAt, now).TotalSeconds * ratePerSecond));
            refilledAt = now;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "{Count} MQTT publishes refused over a device's quota (latest: {Reason}) within {Interval}; the devices' messages are not acknowledged and they resend.")]
        public static partial void Refused(ILogger logger, long count, string reason, TimeSpan interval);
    }
}
