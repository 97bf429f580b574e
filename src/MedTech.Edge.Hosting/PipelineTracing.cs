using System.Diagnostics;

namespace MedTech.Edge.Hosting;

/// <summary>
/// The pipeline's spans: one <see cref="ActivitySource"/> per stage area, named under <see cref="MonitoringExtensions.MeterPrefix"/>,
/// and the W3C trace context (<c>traceparent</c>, <c>tracestate</c>) that joins them across the buffer and the hub.
/// </summary>
/// <remarks>
/// One reading's spans share one trace: ingest starts it (a root span per device message, committed), normalize is a
/// child of the message's ingest span, the measurement group's span a child of the normalize span of the group's
/// earliest sampled message, forward a child of its first sampled group's span, the writer's consume span a child of
/// the forward span (the hub message's headers), and transform and persist children of consume. Where the pipeline
/// batches, a span has one parent and links to the rest: a group of several messages links the others' normalize
/// spans, a packed hub message the other groups', and the writer's persist span (one FHIR batch of many hub messages)
/// the other hub messages' consume spans. So a reading's trace holds every stage while its message is the first
/// sampled one in its group and its group the first sampled one in its hub message, and is reached by a link otherwise;
/// following parents only would need a span per reading per stage, which costs more than the 5 % the instrumentation
/// may take. Sampling (<c>OTEL_TRACES_SAMPLER=parentbased_traceidratio</c>) decides once, at ingest, and a reading is
/// traced at every stage or at none: only a recorded ingest span's context is stored with the message, and a gateway
/// stage after ingest makes a span only as the child of a stored (recorded) context, never a root; so a reading the
/// sampler dropped costs one propagation-only ingest span and nothing after it (no traceparent formatted, stored in
/// the buffer, parsed, nor a span per stage). The hub is the one place an unsampled reading still carries a context:
/// a hub message none of whose groups was sampled is sent with a fresh random trace id flagged unsampled
/// (<see cref="NewUnsampledTraceParent"/>, one per hub message), so the writer's parent-based sampler continues it
/// unsampled instead of starting a root of its own; the writer starts roots only for input that never came through
/// a gateway (no header, device messages normalized in the cloud). Nothing listening:
/// <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null, no context is stored or sent, and
/// nothing else is spent. Names and attributes carry no patient data: counts, topic names, partitions and offsets
/// only, never a device id, patient id, value or client id.
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
    /// <remarks>
    /// Links are added after the sampler decided (<see cref="Activity.AddLink"/>) and only to a span that records: they
    /// cost more than the span itself (a group's ten links took ~3 µs against ~0.4 µs for the span), and a span the
    /// sampler drops (a propagation-only span carrying the trace id on) would throw them away. The samplers the SDK
    /// offers (<c>OTEL_TRACES_SAMPLER</c>) do not look at links.
    /// </remarks>
    public static Activity? StartDetached(ActivitySource source, string name, ActivityKind kind, ActivityContext parent, IEnumerable<ActivityContext>? links = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.HasListeners())
        {
            return null;
        }

        var previous = Activity.Current;
        var activity = source.StartActivity(name, kind, parent);
        Activity.Current = previous;
        if (activity is { IsAllDataRequested: true } && links is not null)
        {
            AddLinks(activity, parent, links);
        }

        return activity;
    }

    /// <summary>Links <paramref name="links"/> to <paramref name="span"/>: each context once, none default or the parent, at most <see cref="MaxLinks"/>.</summary>
    private static void AddLinks(Activity span, ActivityContext parent, IEnumerable<ActivityContext> links)
    {
        // A pooled array and a linear search: at most 32 entries, cheaper than a hash set for the ten a group has.
        var added = System.Buffers.ArrayPool<ActivityContext>.Shared.Rent(MaxLinks);
        try
        {
            var count = 0;
            foreach (var link in links)
            {
                if (count == MaxLinks)
                {
                    return;
                }

                if (link == default || link == parent || Array.IndexOf(added, link, 0, count) >= 0)
                {
                    continue;
                }

                added[count++] = link;
                span.AddLink(new ActivityLink(link));
            }
        }
        finally
        {
            System.Buffers.ArrayPool<ActivityContext>.Shared.Return(added, clearArray: true);
        }
    }

    /// <summary>
    /// A <c>traceparent</c> of a fresh random trace, flagged unsampled: what a hub message carries when none of its
    /// groups was sampled, so that the writer continues it unsampled rather than starting a root (a sampler's coin toss
    /// of its own would trace a reading from the writer on only). Nothing is stored or exported under this trace id.
    /// </summary>
    public static string NewUnsampledTraceParent() => $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-00";

    /// <summary>Whether the sampler recorded the span of <paramref name="context"/> (W3C flag <c>sampled</c>).</summary>
    public static bool IsRecorded(ActivityContext context) => (context.TraceFlags & ActivityTraceFlags.Recorded) != 0;

    /// <summary>
    /// The parent of a span that batches <paramref name="contexts"/>: the first recorded one, so that with sampling a
    /// sampled trace is continued whenever the batch holds it; else the first traced one (the trace id goes on,
    /// unsampled); default when none is traced.
    /// </summary>
    public static ActivityContext FirstRecorded(IReadOnlyList<ActivityContext> contexts)
    {
        ArgumentNullException.ThrowIfNull(contexts);
        var first = default(ActivityContext);
        foreach (var context in contexts)
        {
            if (IsRecorded(context))
            {
                return context;
            }

            if (first == default)
            {
                first = context;
            }
        }

        return first;
    }

    /// <summary>Links one span takes at most: a batch of thousands is followed through its first ones and counted.</summary>
    public const int MaxLinks = 32;
}
