namespace MedTech.Edge.Hosting;

/// <summary>
/// A protocol that brings device messages into the gateway (MQTT today; HL7 v2 over MLLP next). A new protocol is one
/// project that references this (Hosting) and the buffer's <c>IInbox</c> (and <c>IInboxStore</c> for a dead letter of
/// its own), registers its source as an <see cref="IIngestSource"/> singleton, and is started and stopped by the
/// gateway's ingest worker with the others. What a source must do:
/// <list type="number">
/// <item>Acknowledge a message to its sender only after <c>IInbox.AppendAsync</c> completed for it (committed, on disk);
/// when that faults, not acknowledge (or acknowledge negatively), so the sender sends it again.</item>
/// <item>A message it will never be able to store (too large) becomes a dead letter (<c>IInboxStore.AddDeadLetter</c>,
/// committed when it returns) before it is acknowledged; nothing is acknowledged and then dropped.</item>
/// <item>Report its health in <see cref="ModuleHealth"/>: unhealthy with the error type (never a value) while commits
/// fail, healthy once one works again.</item>
/// <item>Stop cleanly: after <see cref="StopAsync"/> returns it takes and acknowledges nothing more; what was received
/// and not committed stays unacknowledged. Stop is called once per start and may follow a failed start.</item>
/// </list>
/// </summary>
public interface IIngestSource
{
    /// <summary>A short stable name (<c>mqtt</c>, <c>mllp</c>): for logs and the operator, never device data.</summary>
    string Name { get; }

    /// <summary>Starts taking messages; the inbox's commit loop already runs. Returns once the source listens (or connects in the background).</summary>
    Task StartAsync();

    /// <summary>Stops taking messages; what was not yet committed is not acknowledged, so the sender sends it again.</summary>
    Task StopAsync();

    /// <summary>Takes messages now: listening, or connected to the broker it takes them from (the ingest health check).</summary>
    bool IsListening { get; }
}
