using System.Diagnostics;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The spans of one Normalize and Group round (see <see cref="PipelineTracing"/>): a <c>normalize</c> span per message,
/// child of its ingest span (the stored <c>traceparent</c>), and a <c>group</c> span per measurement group, child of the
/// normalize span of the group's earliest sampled message and linked to its other sampled messages'. Made only while
/// the gateway's source has a listener.
/// </summary>
/// <remarks>
/// What this class spends is what tracing costs Normalize+Group (the 5 % budget), so its path is plain: the stored
/// <c>traceparent</c> is parsed once per message, contexts are kept in an array by message, a measurement finds its
/// message through one reference dictionary, and a group's messages are told apart by a stamp per message rather than
/// by LINQ's sorting and hashing. A message whose ingest the sampler dropped (flags 00) gets no normalize span: in this
/// process the sampler that dropped ingest drops its children too (parent-based, or trace-id ratio on the same trace
/// id), so that span would only carry the trace id on, which the stored context does for nothing. A group of unsampled
/// messages likewise gets no span and stores its earliest message's context, flags 00: forward and the writer continue
/// the trace unsampled, never as a new root. The group's parent is its earliest SAMPLED message, so that with sampling
/// a sampled reading's trace reaches forward whenever its group holds no earlier sampled one (not only when its message
/// leads the group).
/// </remarks>
internal sealed class NormalizationSpans(int messages)
{
    public const string NormalizeSpanName = "normalize";

    public const string GroupSpanName = "group";

    // Per message: the context its groups continue (its normalize span's, or its ingest's when that was not sampled).
    private readonly ActivityContext[] contexts = new ActivityContext[messages];
    private readonly Dictionary<Measurement, int> messageOf = new(ReferenceEqualityComparer.Instance);

    // Per message, the last group that counted it (groups numbered from 1): each message once per group, without a set.
    private readonly int[] countedIn = new int[messages];
    private int groups;

    /// <summary>The normalize span of message <paramref name="message"/>; null when its ingest was not sampled.</summary>
    public Activity? StartNormalize(int message, string? traceParent)
    {
        var parent = PipelineTracing.Parse(traceParent);
        if (parent != default && !PipelineTracing.IsRecorded(parent))
        {
            contexts[message] = parent;
            return null;
        }

        var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, NormalizeSpanName, ActivityKind.Internal, parent);
        contexts[message] = span?.Context ?? parent;
        return span;
    }

    /// <summary>Notes the measurements message <paramref name="message"/> gave.</summary>
    public void Add(int message, IReadOnlyList<Measurement> measurements, Activity? span)
    {
        foreach (var measurement in measurements)
        {
            messageOf[measurement] = message;
        }

        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("medtech.measurements", measurements.Count);
        }
    }

    /// <summary>The <c>traceparent</c> stored with <paramref name="group"/>: its group span's, or its earliest message's context when none of its messages was sampled; null when none was traced.</summary>
    public string? GroupSpan(MeasurementGroup group)
    {
        var stamp = ++groups;
        int first = -1, firstSampled = -1, count = 0;
        foreach (var measurement in group.Measurements)
        {
            if (!messageOf.TryGetValue(measurement, out var message) || countedIn[message] == stamp || contexts[message] == default)
            {
                continue;
            }

            countedIn[message] = stamp;
            count++;
            first = first < 0 ? message : Math.Min(first, message);
            if (PipelineTracing.IsRecorded(contexts[message]))
            {
                firstSampled = firstSampled < 0 ? message : Math.Min(firstSampled, message);
            }
        }

        if (firstSampled < 0)
        {
            return first < 0 ? null : PipelineTracing.Format(contexts[first]);
        }

        var parent = contexts[firstSampled];
        using var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, GroupSpanName, ActivityKind.Internal, parent, SampledContexts(group));
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("medtech.measurements", group.Measurements.Count);
            span.SetTag("medtech.messages", count);
        }

        return PipelineTracing.Format(span?.Context ?? parent);
    }

    /// <summary>The sampled contexts of the group's messages, repeats included (<see cref="PipelineTracing.StartDetached"/> links each once); read only when the group span records.</summary>
    private IEnumerable<ActivityContext> SampledContexts(MeasurementGroup group)
    {
        foreach (var measurement in group.Measurements)
        {
            if (messageOf.TryGetValue(measurement, out var message) && PipelineTracing.IsRecorded(contexts[message]))
            {
                yield return contexts[message];
            }
        }
    }
}
