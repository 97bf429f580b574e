using System.Diagnostics;

namespace MedTech.Edge.Hosting;

/// <summary>
/// The pipeline's spans: one <see cref="ActivitySource"/> per stage area, named under <see cref="MonitoringExtensions.MeterPrefix"/>,
/// and the W3C trace context (<c>traceparent</c>, <c>tracestate</c>) that joins them across the buffer and the hub.
/// </summary>
/// <remarks>
/// One reading's spans share one trace: ingest starts it (a root span per device message, committed), normalize is a
/// child of the message's ingest span, the measurement group's forward span a child of the normalize span of the
/// group's EARLIEST message, the writer's consume span a child of the forward span (the hub message's headers), and
/// transform and persist children of consume. Where the pipeline batches, a span has one parent and links to the
/// rest: a group of several messages links the others' normalize spans, a packed hub message the other groups', and the
/// writer's persist span (one FHIR batch of many hub messages) the other hub messages' consume spans. So a reading's
/// trace holds every stage while its message is first in its group and its group first in its hub message, and is
/// reached by a link otherwise; following parents only would need a span per reading per stage, which costs more than
/// the 5 % the instrumentation may take. Nothing listening: <see cref="ActivitySource.StartActivity(string, ActivityKind)"/>
/// returns null, no context is stored or sent, and nothing else is spent. Names and attributes carry no patient data:
/// counts, topic names, partitions and offsets only, never a device id, patient id, value or client id.
/// </remarks>
public static class PipelineTracing
{
    /// <summary>The W3C headers (Kafka headers, Event Hubs application properties) that carry the forward span's context.</summary>
    public const string TraceParentHeader = "traceparent";

    public const string TraceStateHeader = "tracestate";

    /// <summary>Ingest, normalize and forward (the gateway).</summary>
    public static readonly ActivitySource Gateway = new(MonitoringExtensions.MeterPrefix + "Gateway");

    /// <summary>Consume, transform and persist (the FHIR writer).</summary>
    public static readonly ActivitySource Writer = new(MonitoringExtensions.MeterPrefix + "Writer");

    /// <summary>The longest <c>traceparent</c> read (version 00 is 55 characters; a later version may append fields).</summary>
    private const int MaxTraceParentChars = 256;

    /// <summary>The longest <c>tracestate</c> carried on (the W3C limit is 32 members of about 256 characters each).</summary>
    private const int MaxTraceStateChars = 8192;

    /// <summary>The context a stored or received <c>traceparent</c> names; default when there is none or it is not valid.</summary>
    public static ActivityContext Parse(string? traceParent, string? traceState = null)
    {
        if (traceParent is null || traceParent.Length > MaxTraceParentChars)
        {
            return default;
        }

        return ActivityContext.TryParse(traceParent, traceState is { Length: <= MaxTraceStateChars } ? traceState : null, isRemote: true, out var context) ? context : default;
    }

    /// <summary>The <c>traceparent</c> of <paramref name="context"/> (version 00), or null for the default context.</summary>
    public static string? Format(ActivityContext context) =>
        context == default ? null : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}";

    /// <summary>
    /// Starts a span of <paramref name="source"/> as a child of <paramref name="parent"/>, linked to <paramref name="links"/>
    /// (at most <see cref="MaxLinks"/>), without making it <see cref="Activity.Current"/>: batch code starts many and
    /// ends them elsewhere, and what it calls next must not take one of them for its parent.
    /// </summary>
    public static Activity? StartDetached(ActivitySource source, string name, ActivityKind kind, ActivityContext parent, IEnumerable<ActivityContext>? links = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.HasListeners())
        {
            return null;
        }

        var previous = Activity.Current;
        var linked = links?.Where(l => l != default && l != parent).Distinct().Take(MaxLinks).Select(l => new ActivityLink(l));
        var activity = source.StartActivity(name, kind, parent, tags: null, links: linked);
        Activity.Current = previous;
        return activity;
    }

    /// <summary>Links one span takes at most: a batch of thousands is followed through its first ones and counted.</summary>
    public const int MaxLinks = 32;
}
