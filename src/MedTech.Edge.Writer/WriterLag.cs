using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace MedTech.Edge.Writer;

/// <summary>
/// The writer's lag (<c>consumer.lag</c>): hub messages not yet written to FHIR over the assigned partitions, the batch
/// in hand included, that is each partition's high watermark minus its first offset in hand, else the consumer's
/// position. Counting the batch in hand is what lets the writer-lag alert fire for a writer stuck on one batch.
/// </summary>
internal static class WriterLag
{
    // A write that ends sooner is not watched: the lag set when its batch was consumed is recent enough, and the
    // common fast write costs no broker request.
    private static readonly TimeSpan WatchAfter = TimeSpan.FromSeconds(1);

    // How often the brokers are asked while a write lasts: one ListOffsets request per broker each time.
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    // Bounds how long the writer waits, after its write, for a request still on the way (the hub out of reach).
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    // A partition this process has consumed nothing from yet has no position (librdkafka's is per message consumed).
    private const long Unknown = -1;

    /// <summary>
    /// Per assigned partition, the first offset not yet written (in hand or to be consumed), or <see cref="Unknown"/>
    /// for a partition nothing was consumed from yet.
    /// </summary>
    public static Dictionary<TopicPartition, long> NotWrittenFrom(IConsumer<string, byte[]> consumer, IEnumerable<ConsumeResult<string, byte[]>> inHand)
    {
        var from = consumer.Assignment.ToDictionary(p => p, p => consumer.Position(p).Value is var position and >= 0 ? position : Unknown);
        foreach (var message in inHand)
        {
            if (!from.TryGetValue(message.TopicPartition, out var first) || first == Unknown || message.Offset.Value < first)
            {
                from[message.TopicPartition] = message.Offset.Value;
            }
        }

        return from;
    }

    /// <summary>
    /// The lag from the consumer's cached high watermarks, for partitions that are fetched: right after a consume, or
    /// idle. A fetched partition without a position has had nothing to consume, so it adds nothing.
    /// </summary>
    public static long FromCache(IConsumer<string, byte[]> consumer, Dictionary<TopicPartition, long> from) =>
        from.Where(p => p.Value >= 0).Sum(p => consumer.GetWatermarkOffsets(p.Key).High.Value is var high and >= 0 ? Math.Max(0, high - p.Value) : 0);

    /// <summary>
    /// Keeps the lag current while <paramref name="write"/> runs. The writer pauses its partitions for a write and
    /// librdkafka fetches no paused partition, so the cached watermarks stop moving exactly when the lag matters: a
    /// FHIR outage holds one write for hours while the hub fills. So a write that lasts asks the brokers for the high
    /// watermarks (ListOffsets through an admin client on the consumer's own connections, asynchronous, so the
    /// polling thread is never blocked). Returns once the write is over and no request is left on the way; the caller
    /// awaits it before closing the consumer or setting the lag itself. A failed request keeps the last value: the
    /// hub out of reach shows in the hub health check. A partition paused before anything was consumed from it counts
    /// from the group's committed offset, else from its first offset (the writer reads from the earliest).
    /// </summary>
    public static async Task WatchAsync(IConsumer<string, byte[]> consumer, WriterMetrics metrics, Task write, Dictionary<TopicPartition, long> from)
    {
        if (from.Count == 0 || await EndedWithinAsync(write, WatchAfter).ConfigureAwait(false))
        {
            return;
        }

        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var specs = from.Keys.Select(p => new TopicPartitionOffsetSpec { TopicPartition = p, OffsetSpec = OffsetSpec.Latest() }).ToList();
        do
        {
            try
            {
                await ResolveUnknownAsync(consumer, admin, from).ConfigureAwait(false);
                var latest = await admin.ListOffsetsAsync(specs, new ListOffsetsOptions { RequestTimeout = RequestTimeout }).ConfigureAwait(false);
                if (write.IsCompleted)
                {
                    // The writer sets the lag from here on; a late answer must not overwrite it.
                    return;
                }

                metrics.SetLag(latest.ResultInfos.Select(r => r.TopicPartitionOffsetError)
                    .Sum(r => r.Offset.Value >= 0 && from.TryGetValue(r.TopicPartition, out var first) && first >= 0 ? Math.Max(0, r.Offset.Value - first) : 0));
            }
            catch (KafkaException)
            {
                // Includes ListOffsetsException (some partition failed): keep the last value, ask again next time.
            }
        }
        while (!await EndedWithinAsync(write, Interval).ConfigureAwait(false));
    }

    private static async Task ResolveUnknownAsync(IConsumer<string, byte[]> consumer, IAdminClient admin, Dictionary<TopicPartition, long> from)
    {
        var unknown = from.Where(p => p.Value == Unknown).Select(p => p.Key).ToList();
        if (unknown.Count == 0)
        {
            return;
        }

        // Committed blocks until the group coordinator answers: on a pool thread, never the polling one.
        foreach (var committed in await Task.Run(() => consumer.Committed(unknown, RequestTimeout)).ConfigureAwait(false))
        {
            if (committed.Offset.Value >= 0)
            {
                from[committed.TopicPartition] = committed.Offset.Value;
            }
        }

        var uncommitted = from.Where(p => p.Value == Unknown).Select(p => new TopicPartitionOffsetSpec { TopicPartition = p.Key, OffsetSpec = OffsetSpec.Earliest() }).ToList();
        if (uncommitted.Count > 0)
        {
            var earliest = await admin.ListOffsetsAsync(uncommitted, new ListOffsetsOptions { RequestTimeout = RequestTimeout }).ConfigureAwait(false);
            foreach (var result in earliest.ResultInfos.Select(r => r.TopicPartitionOffsetError).Where(r => r.Offset.Value >= 0))
            {
                from[result.TopicPartition] = result.Offset.Value;
            }
        }
    }

    private static async Task<bool> EndedWithinAsync(Task write, TimeSpan wait)
    {
        using var timer = new CancellationTokenSource();
        var ended = await Task.WhenAny(write, Task.Delay(wait, timer.Token)).ConfigureAwait(false) == write;
        await timer.CancelAsync().ConfigureAwait(false);
        return ended;
    }
}
