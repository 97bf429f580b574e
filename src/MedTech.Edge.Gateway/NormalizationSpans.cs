using System.Diagnostics;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway;

/// <summary>
/// The spans of one Normalize and Group round (see <see cref="PipelineTracing"/>): a <c>normalize</c> span per sampled
/// message, child of its ingest span (the stored <c>traceparent</c>), and a <c>group</c> span per measurement group
/// holding a sampled message, child of the normalize span of the group's earliest sampled message and linked to its
/// other sampled messages'. Made only while the gateway's source has a listener.
/// </summary>
/// <remarks>
/// What this class spends is what tracing costs Normalize+Group (the 5 % budget), so its path is plain and an
/// unsampled reading costs next to nothing: a message with no stored context (its ingest was not sampled, or ran with
/// nothing listening) gets no span and is not noted at all, and a group none of whose messages was sampled gets no span
/// and stores no context (nor does a round without a sampled message look at its groups); a stage never starts a root.
/// An old file's context flagged 00 (stored by an earlier release) is treated as none: in this process the sampler that
/// dropped ingest would drop its children too. A sampled message's contexts are kept in an array by message, its
/// measurements find it through one reference dictionary, and a group's messages are told apart by a stamp per message
/// rather than by LINQ's sorting and hashing. The group's parent is its earliest sampled message, so that a sampled
/// reading's trace reaches forward whenever its group holds no earlier sampled one (not only when it leads the group).
/// </remarks>
internal sealed class NormalizationSpans(int messages)
{
    public const string NormalizeSpanName = "normalize";

    public const string GroupSpanName = "group";

    // Per message: the context its groups continue (its normalize span's); default for a message not sampled.
    private readonly ActivityContext[] contexts = new ActivityContext[messages];
    private readonly Dictionary<Measurement, int> messageOf = new(ReferenceEqualityComparer.Instance);

    // Per message, the last group that counted it (groups numbered from 1): each message once per group, without a set.
    private readonly int[] countedIn = new int[messages];
    private int groups;
    private bool anySampled;

    /// <summary>The normalize span of message <paramref name="message"/>; null when its ingest was not sampled (no context stored).</summary>
    public Activity? StartNormalize(int message, string? traceParent)
    {
        var parent = PipelineTracing.Parse(traceParent);
        if (!PipelineTracing.IsRecorded(parent))
        {
            return null;
        }

        var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, NormalizeSpanName, ActivityKind.Internal, parent);
        if (span is null || !span.Recorded)
        {
            // Dropped after all (a sampler that ignores the parent): nothing to continue.
            span?.Dispose();
            return null;
        }

        contexts[message] = span.Context;
        anySampled = true;
        return span;
    }

    /// <summary>Notes the measurements message <paramref name="message"/> gave, when it was sampled (only a sampled one is looked up again).</summary>
    public void Add(int message, IReadOnlyList<Measurement> measurements, Activity? span)
    {
        if (contexts[message] == default)
        {
            return;
        }

        foreach (var measurement in measurements)
        {
            messageOf[measurement] = message;
        }

        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("medtech.measurements", measurements.Count);
        }
    }

    /// <summary>The <c>traceparent</c> stored with <paramref name="group"/>: its group span's; null when none of its messages was sampled.</summary>
    public string? GroupSpan(MeasurementGroup group)
    {
        if (!anySampled)
        {
            return null;
        }

        var stamp = ++groups;
        int firstSampled = -1, count = 0;
        foreach (var measurement in group.Measurements)
        {
            if (!messageOf.TryGetValue(measurement, out var message) || countedIn[message] == stamp)
            {
                continue;
            }

            countedIn[message] = stamp;
            count++;
            firstSampled = firstSampled < 0 ? message : Math.Min(firstSampled, message);
        }

        if (firstSampled < 0)
        {
            return null;
        }

        var parent = contexts[firstSampled];
        using var span = PipelineTracing.StartDetached(PipelineTracing.Gateway, GroupSpanName, ActivityKind.Internal, parent, SampledContexts(group));
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("medtech.measurements", group.Measurements.Count);
            // Sampled messages only: an unsampled one is not noted (what it would cost every reading).
            span.SetTag("medtech.sampled_messages", count);
        }

        return PipelineTracing.Format(span?.Context ?? parent);
    }

    /// <summary>The sampled contexts of the group's messages, repeats included (<see cref="PipelineTracing.StartDetached"/> links each once); read only when the group span records.</summary>
    private IEnumerable<ActivityContext> SampledContexts(MeasurementGroup group)
    {
        foreach (var measurement in group.Measurements)
        {
            if (messageOf.TryGetValue(measurement, out var message))
            {
                yield return contexts[message];
            }
        }
    }
}
