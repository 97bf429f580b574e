using System.Diagnostics.Metrics;

namespace MedTech.Edge.Mqtt;

/// <summary>Ingest counters (meter <c>MedTech.Edge.Gateway</c>); labels are reasons, never device or patient ids.</summary>
public sealed class IngestMetrics : IDisposable
{
    public const string MeterName = "MedTech.Edge.Gateway";

    private readonly Meter meter = new(MeterName);
    private long received;
    private long committed;
    private long deadLettered;

    public IngestMetrics()
    {
        Refused = meter.CreateCounter<long>("messages.refused", description: "Messages not stored, by reason.");
        ConnectionsRefused = meter.CreateCounter<long>("connections.refused", description: "Device connections closed by the device port's limits, by reason.");
        meter.CreateObservableCounter("messages.received", () => Interlocked.Read(ref received));
        meter.CreateObservableCounter("messages.committed", () => Interlocked.Read(ref committed));
        meter.CreateObservableCounter("messages.ingest_dead_lettered", () => Interlocked.Read(ref deadLettered),
            description: "Messages kept as dead letters at ingest (too large to store), then acknowledged.");

        // Every known reason at 0 from the start, so an alert on increase() sees the first refusal (see GatewayMetrics).
        foreach (var reason in RefusalReasons)
        {
            Refused.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }

        foreach (var reason in ConnectionRefusalReasons)
        {
            ConnectionsRefused.Add(0, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    /// <summary>The <c>reason</c> values of <see cref="Refused"/> (embedded broker and external-broker client).</summary>
    public static readonly IReadOnlyList<string> RefusalReasons = ["oversized", "topic_not_allowed", DeviceQuota.RateLimited, DeviceQuota.OverBufferShare, "buffer_full", "store_failed"];

    /// <summary>The <c>reason</c> values of <see cref="ConnectionsRefused"/> (see its summary).</summary>
    public static readonly IReadOnlyList<string> ConnectionRefusalReasons =
        ["connection_cap", "address_pending_cap", "pending_evicted", "tls_handshake_timeout", "tls_handshake_failed", "connect_timeout", "packet_too_large", "malformed_length", "first_packet_not_connect"];

    public Counter<long> Refused { get; }

    /// <summary>Reasons: connection_cap, address_pending_cap, pending_evicted (the oldest connection not logged in, closed for a newcomer at MaxPendingConnections), tls_handshake_timeout, tls_handshake_failed, connect_timeout, packet_too_large, malformed_length, first_packet_not_connect.</summary>
    public Counter<long> ConnectionsRefused { get; }

    public long Received => Interlocked.Read(ref received);

    public long Committed => Interlocked.Read(ref committed);

    public void OnReceived() => Interlocked.Increment(ref received);

    public void OnCommitted() => Interlocked.Increment(ref committed);

    /// <summary>Dead-lettered at ingest (committed as a dead letter, not to the inbox).</summary>
    public long DeadLettered => Interlocked.Read(ref deadLettered);

    public void OnDeadLettered() => Interlocked.Increment(ref deadLettered);

    public void Dispose() => meter.Dispose();
}
