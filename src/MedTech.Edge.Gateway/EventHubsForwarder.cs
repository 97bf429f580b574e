using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Producer;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Forward through the Event Hubs SDK (AMQP), by the rules of <see cref="OutboxForwarder"/>: the oldest outbox entries,
/// a device's entries packed into few events (<see cref="OutboxPacking"/>), partition key = device id (one partition
/// per device, in order), header <see cref="HubOptions.GatewayHeader"/> as an application property, and a batch
/// marked delivered only once every entry of it was sent or refused for good. An event larger than the hub takes, or
/// one that cannot be built, becomes a dead letter with <see cref="OutboxForwarder.RejectedCode"/>; any other failure
/// (network, throttling, authorization, a missing hub) is the hub's, so the entries stay and are sent again.
/// A device's events go in batches (one <see cref="EventDataBatch"/> per partition key), one after another; devices in
/// parallel (<see cref="EventHubsTransportOptions.MaxConcurrentSends"/>). A device whose send failed sends nothing more
/// this round, so a resend cannot put its older data behind newer. One round at a time; not thread-safe.
/// </summary>
public sealed partial class EventHubsForwarder(IOutbox store, EventHubProducerClient producer, HubOptions options, ILogger<EventHubsForwarder> logger)
    : IOutboxForwarder
{
    private readonly string? gateway = options.GatewayName is { Length: > 0 } name ? name : null;

    public async Task<ForwardResult> ForwardOnceAsync(CancellationToken cancellationToken)
    {
        var entries = store.ReadOutbox(options.ForwardBatchSize);
        if (entries.Count == 0)
        {
            return default;
        }

        var failures = new Failure?[entries.Count];
        var devices = OutboxPacking.Pack(entries, options.PackUpToBytes)
            .GroupBy(message => entries[message[0]].Key, StringComparer.Ordinal).Select(device => device.ToList()).ToList();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.EventHubs.MaxConcurrentSends, CancellationToken = cancellationToken };
        // Cancelled (the module stops): nothing is marked; whatever was sent is sent again after the restart.
        await Parallel.ForEachAsync(devices, parallel, async (messages, token) => await SendDeviceAsync(entries, messages, failures, token).ConfigureAwait(false))
            .ConfigureAwait(false);

        var result = Complete(entries, failures);
        if (result == default && failures.FirstOrDefault(f => f is { Permanent: false }) is { } failure)
        {
            throw new HubUnavailableException($"The hub acknowledged none of {entries.Count} entries (error: {failure.Error}).");
        }

        Log.Forwarded(logger, result.Acknowledged, result.Rejected, entries.Count - result.Acknowledged - result.Rejected);
        return result;
    }

    /// <summary>One device's events, in order, in as few batches as fit; records each entry's failure, if any.</summary>
    private async Task SendDeviceAsync(IReadOnlyList<OutboxEntry> entries, List<List<int>> messages, Failure?[] failures, CancellationToken cancellationToken)
    {
        var done = new bool[messages.Count];
        var inBatch = new List<(int Message, EventData Data)>();
        var key = entries[messages[0][0]].Key;
        EventDataBatch? batch = null;
        try
        {
            for (var m = 0; m < messages.Count; m++)
            {
                if (ToEvent(entries, messages[m]) is not { } data)
                {
                    Fail(failures, messages[m], new Failure(true, "not sendable"));
                    done[m] = true;
                    continue;
                }

                batch ??= await NewBatchAsync(key, cancellationToken).ConfigureAwait(false);
                var added = batch.TryAdd(data);
                if (!added && batch.Count > 0)
                {
                    await SendAsync(key, batch, inBatch.ConvertAll(e => (messages[e.Message], e.Data)), failures, cancellationToken).ConfigureAwait(false);
                    inBatch.ForEach(e => done[e.Message] = true);
                    inBatch.Clear();
                    batch.Dispose();
                    batch = null;
                    batch = await NewBatchAsync(key, cancellationToken).ConfigureAwait(false);
                    added = batch.TryAdd(data);
                }

                if (added)
                {
                    inBatch.Add((m, data));
                }
                else
                {
                    // Alone in an empty batch and still too large: the hub never takes it.
                    Fail(failures, messages[m], new Failure(true, nameof(EventHubsException.FailureReason.MessageSizeExceeded)));
                    done[m] = true;
                }
            }

            if (batch is { Count: > 0 })
            {
                await SendAsync(key, batch, inBatch.ConvertAll(e => (messages[e.Message], e.Data)), failures, cancellationToken).ConfigureAwait(false);
                inBatch.ForEach(e => done[e.Message] = true);
            }
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // The hub's failure, not the data's: everything of this device not yet sent stays in the outbox.
            var failure = new Failure(false, Describe(ex));
            for (var m = 0; m < messages.Count; m++)
            {
                if (!done[m])
                {
                    Fail(failures, messages[m], failure);
                }
            }
        }
        finally
        {
            batch?.Dispose();
        }
    }

    /// <summary>
    /// Sends a batch. Refused as too large (the service's limit can be below what the client measured), its events go
    /// one by one, and only one that is too large on its own is refused for good.
    /// </summary>
    private async Task SendAsync(string key, EventDataBatch batch, List<(List<int> Indices, EventData Data)> events, Failure?[] failures, CancellationToken cancellationToken)
    {
        try
        {
            await producer.SendAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (EventHubsException ex) when (ex.Reason == EventHubsException.FailureReason.MessageSizeExceeded)
        {
            if (events.Count == 1)
            {
                Fail(failures, events[0].Indices, new Failure(true, Describe(ex)));
                return;
            }

            foreach (var single in events)
            {
                using var alone = await NewBatchAsync(key, cancellationToken).ConfigureAwait(false);
                if (!alone.TryAdd(single.Data))
                {
                    Fail(failures, single.Indices, new Failure(true, Describe(ex)));
                    continue;
                }

                await SendAsync(key, alone, [single], failures, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private ValueTask<EventDataBatch> NewBatchAsync(string key, CancellationToken cancellationToken) =>
        producer.CreateBatchAsync(new CreateBatchOptions { PartitionKey = PartitionKey(key) }, cancellationToken);

    /// <summary>Event Hubs refuses partition keys over this many characters; device ids may be up to 1,024.</summary>
    public const int MaxPartitionKeyChars = 128;

    /// <summary>
    /// The device id as the partition key, or for a longer id its SHA-256 in hex: the same device always gets the same
    /// key (so its events stay in order on one partition), and a send never fails for good on the key's length, which
    /// would stall the outbox's head.
    /// </summary>
    public static string PartitionKey(string deviceKey)
    {
        ArgumentNullException.ThrowIfNull(deviceKey);
        return deviceKey.Length <= MaxPartitionKeyChars
            ? deviceKey
            : "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(deviceKey)));
    }

    /// <summary>The event holding these entries; null when it cannot be built (a bug not met yet: a dead letter, not a stalled outbox).</summary>
    private EventData? ToEvent(IReadOnlyList<OutboxEntry> entries, List<int> indices)
    {
        try
        {
            var data = new EventData(PackedMessage.Pack(indices.ConvertAll(i => entries[i].Payload)));
            if (gateway is not null)
            {
                data.Properties[HubOptions.GatewayHeader] = gateway;
            }

            // The span covers building the event and carries its context; the SDK sends batches of events later, so
            // how a send ended is on the forwarding metrics and logs, not on this span.
            using var span = ForwardSpan.Start(entries, indices, "eventhubs", options.Topic);
            ForwardSpan.Inject(span, (name, text) => data.Properties[name] = text);
            return data;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.NotSendable(logger, ex.GetType().Name);
            return null;
        }
    }

    /// <summary>Marks delivered the outbox batches whose every entry was sent or refused for good, with the refused ones as dead letters.</summary>
    private ForwardResult Complete(IReadOnlyList<OutboxEntry> entries, Failure?[] failures)
    {
        var incomplete = entries.Where((_, i) => failures[i] is { Permanent: false }).Select(e => e.Id).ToHashSet();
        var now = DateTime.UtcNow;
        var deadLetters = entries.Select((entry, i) => (Entry: entry, Failure: failures[i]))
            .Where(r => r.Failure is { Permanent: true } && !incomplete.Contains(r.Entry.Id))
            .Select(r => new GroupDeadLetter(r.Entry.Key, r.Entry.Payload, OutboxForwarder.RejectedCode, $"The hub refused the message for good ({r.Failure!.Error}).", now)).ToList();
        store.MarkDelivered(entries.Select(e => e.Id).Distinct().Where(id => !incomplete.Contains(id)).ToList(), deadLetters);
        if (deadLetters.Count > 0)
        {
            Log.Rejected(logger, deadLetters.Count, failures.First(f => f is { Permanent: true })!.Error);
        }

        return new ForwardResult(failures.Count(f => f is null), deadLetters.Count);
    }

    private static void Fail(Failure?[] failures, List<int> indices, Failure failure) => indices.ForEach(i => failures[i] = failure);

    /// <summary>The exception's type and, for the SDK's own, its reason: never its message (it may name the hub's address, not data, but stays out).</summary>
    private static string Describe(Exception ex) => ex is EventHubsException hub ? $"{nameof(EventHubsException)} {hub.Reason}" : ex.GetType().Name;

    /// <summary>An entry's failure: refused for good (a dead letter), or the hub's (sent again).</summary>
    private sealed record Failure(bool Permanent, string Error);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4003, Level = LogLevel.Debug, Message = "Forwarded {Delivered} outbox entries to Event Hubs, {Rejected} refused for good; {Failed} stay for the next round.")]
        public static partial void Forwarded(ILogger logger, int delivered, int rejected, int failed);

        [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Event Hubs refused {Count} outbox entries for good ({Error}); they are dead letters (HubRejectedMessage) and can be replayed once the hub takes them.")]
        public static partial void Rejected(ILogger logger, int count, string error);

        [LoggerMessage(EventId = 4005, Level = LogLevel.Error, Message = "An outbox entry could not be made an event ({Error}); it becomes a dead letter.")]
        public static partial void NotSendable(ILogger logger, string error);
    }
}
