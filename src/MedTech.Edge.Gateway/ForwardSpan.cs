using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The forward span of one hub message, the same for every transport: a child of the first sampled group it packs
/// (the other sampled ones linked, see <see cref="PipelineTracing"/>), its context sent in the message's <c>traceparent</c> and
/// <c>tracestate</c> so that the writer's consume span continues the trace. No span when no group it packs was sampled
/// (a gateway stage never starts a root); the message then carries a fresh unsampled <c>traceparent</c>, so the writer
/// does not start one either. Null, and nothing sent, when nothing listens.
/// </summary>
public static class ForwardSpan
{
    public const string SpanName = "forward";

    public static Activity? Start(IReadOnlyList<OutboxEntry> entries, IReadOnlyList<int> indices, string system, string? topic)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(indices);
        if (!PipelineTracing.Gateway.HasListeners())
        {
            return null;
        }

        // Only a sampled group stores a context (an old file's flagged 00 counts as none); most hub messages have none.
        List<ActivityContext>? groups = null;
        foreach (var i in indices)
        {
            if (entries[i].TraceParent is { } stored && PipelineTracing.Parse(stored) is var group && PipelineTracing.IsRecorded(group))
            {
                (groups ??= new List<ActivityContext>(Math.Min(indices.Count, PipelineTracing.MaxLinks + 1))).Add(group);
            }
        }

        if (groups is null)
        {
            return null;
        }

        // The first sampled group's child; the sampled others linked.
        var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, SpanName, ActivityKind.Producer, groups[0], groups);
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("messaging.system", system);
            if (topic is { Length: > 0 })
            {
                span.SetTag("messaging.destination.name", topic);
            }

            span.SetTag("messaging.batch.message_count", indices.Count);
        }

        return span;
    }

    /// <summary>
    /// Writes the span's W3C context through <paramref name="add"/> (header name, value); without a span while tracing
    /// is on (no group of the message was sampled), a fresh unsampled <c>traceparent</c>; nothing when nothing listens.
    /// </summary>
    public static void Inject(Activity? span, Action<string, string> add)
    {
        ArgumentNullException.ThrowIfNull(add);
        if (span is null)
        {
            if (PipelineTracing.Gateway.HasListeners())
            {
                add(PipelineTracing.TraceParentHeader, PipelineTracing.NewUnsampledTraceParent());
            }

            return;
        }

        add(PipelineTracing.TraceParentHeader, PipelineTracing.Format(span.Context)!);
        if (span.TraceStateString is { Length: > 0 } state)
        {
            add(PipelineTracing.TraceStateHeader, state);
        }
    }

    /// <summary>Ends the span: acknowledged (where it landed, when known), or refused with <paramref name="error"/> (a code or an exception type, never a message).</summary>
    public static void End(Activity? span, string? error, int? partition = null, long? offset = null)
    {
        if (span is null)
        {
            return;
        }

        if (error is not null)
        {
            span.SetStatus(ActivityStatusCode.Error, error);
        }

        // Attributes only where they are kept: a span the sampler dropped only carries the trace id on.
        if (partition is >= 0 && span.IsAllDataRequested)
        {
            span.SetTag("messaging.destination.partition.id", partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (offset is >= 0 && span.IsAllDataRequested)
        {
            span.SetTag("messaging.kafka.offset", offset.Value);
        }

        span.Dispose();
    }
}
