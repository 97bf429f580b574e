using System.Diagnostics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The forward span of one hub message, the same for every transport: a child of the first traced group it packs
/// (the others linked, see <see cref="PipelineTracing"/>), its context sent in the message's <c>traceparent</c> and
/// <c>tracestate</c> so that the writer's consume span continues the trace. Null, and nothing sent, when nothing listens.
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

        var groups = indices.Select(i => PipelineTracing.Parse(entries[i].TraceParent)).Where(c => c != default).ToList();
        var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, SpanName, ActivityKind.Producer, groups.FirstOrDefault(), groups.Skip(1));
        span?.SetTag("messaging.system", system);
        if (topic is { Length: > 0 })
        {
            span?.SetTag("messaging.destination.name", topic);
        }

        span?.SetTag("messaging.batch.message_count", indices.Count);
        return span;
    }

    /// <summary>Writes the span's W3C context through <paramref name="add"/> (header name, value).</summary>
    public static void Inject(Activity? span, Action<string, string> add)
    {
        ArgumentNullException.ThrowIfNull(add);
        if (span is null)
        {
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

        if (partition is >= 0)
        {
            span.SetTag("messaging.destination.partition.id", partition.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (offset is >= 0)
        {
            span.SetTag("messaging.kafka.offset", offset.Value);
        }

        span.Dispose();
    }
}
