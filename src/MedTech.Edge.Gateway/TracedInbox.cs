using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The ingest span: one per device message, from its hand-over to the buffer until it is committed, the root of the
/// reading's trace (<see cref="PipelineTracing"/>). A recorded span's <c>traceparent</c> is stored with the message, so
/// normalize continues the trace after a restart too; a span the sampler dropped stores nothing, so the later stages
/// spend nothing on the reading. The MQTT topic is not an attribute: topics commonly name the device.
/// </summary>
public sealed class TracedInbox(IInbox inner) : IInbox
{
    public const string SpanName = "ingest";

    public string? Fault => inner.Fault;

    public async Task<long> AppendAsync(InboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        using var activity = PipelineTracing.Gateway.HasListeners() ? PipelineTracing.Gateway.StartActivity(SpanName, ActivityKind.Consumer) : null;
        if (activity is null)
        {
            return await inner.AppendAsync(message, cancellationToken).ConfigureAwait(false);
        }

        // Dropped by the sampler: nothing stored, no later stage continues it (a propagation-only span, ended at once).
        if (!activity.Recorded)
        {
            activity.Dispose();
            return await inner.AppendAsync(message, cancellationToken).ConfigureAwait(false);
        }

        // Attributes only where they are kept (a recorded span whose sampler also asked for its data).
        var recorded = activity.IsAllDataRequested;
        if (recorded)
        {
            activity.SetTag("messaging.system", "mqtt");
            activity.SetTag("messaging.message.body.size", message.Payload.Length);
        }

        try
        {
            var id = await inner.AppendAsync(message with { TraceParent = PipelineTracing.Format(activity.Context) }, cancellationToken).ConfigureAwait(false);
            if (recorded)
            {
                activity.SetTag("medtech.inbox.id", id);
            }

            return id;
        }
        catch (Exception ex)
        {
            // The type only: a message may quote what it failed on.
            activity.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
    }
}
