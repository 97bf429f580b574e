using System.Diagnostics;
using System.Globalization;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Normalize and Group at the edge: takes the oldest inbox messages, normalizes each against MedTech's envelope,
/// groups the batch's measurements, and in one transaction stores the groups in the outbox, the failed messages as
/// dead letters, and removes the messages from the inbox. A message with any error is dead-lettered whole, so a
/// replay after a mapping fix gives a complete result. With <paramref name="identity"/>, a message from an
/// authenticated device with a measurement of a device it may not report for is dead-lettered whole
/// (<see cref="ErrorCodes.DeviceIdentityMismatch"/>, see <see cref="DeviceIdentityBinding"/>).
/// </summary>
/// <remarks>
/// Containment: if anything throws for a round (normalizer, grouping, serialization, the store's transaction), the
/// round is redone one message at a time, and a message whose own round throws becomes a <see cref="ErrorCodes.ProcessingError"/>
/// dead letter, so one message can never stop the rest. No crash loop: before a round the stage records the ids in
/// hand (<see cref="GatewayStore.SetInHand"/>, one small commit) and the round's transaction clears it. A record
/// found at start-up means the process died holding those messages: each is retried alone once, with its own record,
/// and one found in hand alone at the next start (it killed the process twice) becomes a <see cref="ErrorCodes.Poison"/>
/// dead letter without being normalized again.
/// </remarks>
public sealed partial class NormalizationStage(INormalizationInput store, DeviceMappingSource mapping, ILogger<NormalizationStage> logger, GatewayMetrics? metrics = null,
    TimeProvider? timeProvider = null, TestFaults? faults = null, DeviceIdentityBinding? identity = null)
{
    /// <summary>Event Hubs' limit is 1 MB per event; a group bigger than this is split.</summary>
    public const int MaxMessageBytes = 900_000;

    /// <summary>Dead-letter reason texts are cut to this many characters (a reason is stored with the payload; a document must stay far below LiteDB's limit).</summary>
    public const int MaxReasonChars = 1000;

    /// <summary>At most this many normalization errors are spelled out in a reason, then their total count.</summary>
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;
    private bool recovered;

    /// <summary>
    /// Processes up to <paramref name="maxMessages"/>; returns how many it took from the inbox (0 when it is empty).
    /// The first call first finishes what a dead process had in hand.
    /// </summary>
    public int RunOnce(int maxMessages)
    {
        if (!recovered)
        {
            var handled = Recover();
            recovered = true;
            if (handled > 0)
            {
                return handled;
            }
        }

        var messages = store.ReadInbox(maxMessages);
        if (messages.Count == 0)
        {
            return 0;
        }

        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(messages[0].Id, messages[^1].Id, 0, messages[^1].Id));
        Round round;
        var step = Step.Normalize;
        try
        {
            round = Complete(messages, GatewayStore.NormalizationInHand, ref step);
        }
        catch (Exception ex) when (OfTheData(ex))
        {
            // Nothing of the round was stored (one transaction). Redo it one message at a time; the record stays until
            // the last one, so a death on one of them is found at the next start.
            Log.RoundFailed(logger, messages.Count, step.ToString(), ex.GetType().Name);
            for (var i = 0; i < messages.Count; i++)
            {
                CompleteAlone(messages[i], clearInHand: i == messages.Count - 1);
            }

            return messages.Count;
        }

        Count(round, messages.Count);
        return messages.Count;
    }

    // The message this process last recorded in hand alone (see Recover).
    private long? retriedAloneHere;

    /// <summary>Finishes what the process had in hand when it died; returns how many messages it took.</summary>
    private int Recover()
    {
        if (store.ReadInHand(GatewayStore.NormalizationInHand) is not { } inHand)
        {
            return 0;
        }

        var handled = 0;
        var from = inHand.FirstId;

        // A record of one message alone means a death only if this process did not write it: when a retry alone failed
        // on storage (a full disk) and Recover runs again, that message did not kill anything and is retried again.
        if (inHand.Attempt >= 1 && inHand.FirstId != retriedAloneHere)
        {
            // It died again with this one alone in hand: quarantine it without normalizing it again.
            foreach (var message in store.ReadInboxRange(inHand.FirstId, inHand.LastId))
            {
                var now = time.GetUtcNow().UtcDateTime;
                StoreDeadLetter(new DeadLetter(message, ErrorCodes.Poison, "The process died twice while normalizing this message (once in a batch, once alone).", now), clearInHand: false);
                Log.Poisoned(logger, message.Id);
                handled++;
            }

            from = inHand.LastId + 1;
        }

        var retry = store.ReadInboxRange(from, inHand.RecoverUpTo);
        if (retry.Count > 0)
        {
            Log.Recovering(logger, retry.Count);
        }

        foreach (var message in retry)
        {
            retriedAloneHere = message.Id;
            store.SetInHand(GatewayStore.NormalizationInHand, new InHand(message.Id, message.Id, 1, inHand.RecoverUpTo));
            CompleteAlone(message, clearInHand: true);
            handled++;
        }

        store.ClearInHand(GatewayStore.NormalizationInHand);
        return handled;
    }

    /// <summary>One message in a round of its own; if that throws, it becomes a <see cref="ErrorCodes.ProcessingError"/> dead letter.</summary>
    private void CompleteAlone(InboxMessage message, bool clearInHand)
    {
        var step = Step.Normalize;
        try
        {
            Count(Complete([message], clearInHand ? GatewayStore.NormalizationInHand : null, ref step), 1);
        }
        catch (Exception ex) when (OfTheData(ex))
        {
            Log.MessageFailed(logger, message.Id, step.ToString(), ex.GetType().Name);
            var reason = Bounded($"{step}: {ex.GetType().FullName}: {ex.Message}");
            StoreDeadLetter(new DeadLetter(message, ErrorCodes.ProcessingError, reason, time.GetUtcNow().UtcDateTime), clearInHand);
        }
    }

    /// <summary>
    /// Stores one message's dead letter and removes it from the inbox. Should the store refuse the message's MQTT
    /// envelope (client id, topic, properties), it keeps the payload byte for byte with the envelope's hashes instead:
    /// a message that cannot be stored as received must still leave the inbox, or it would stall every device.
    /// </summary>
    private void StoreDeadLetter(DeadLetter deadLetter, bool clearInHand)
    {
        var clear = clearInHand ? GatewayStore.NormalizationInHand : null;
        try
        {
            store.CompleteNormalization([deadLetter.Message.Id], [], [deadLetter], clear);
        }
        catch (Exception ex) when (OfTheData(ex))
        {
            Log.EnvelopeRefused(logger, deadLetter.Message.Id, ex.GetType().Name);
            var message = deadLetter.Message;
            var stripped = new InboxMessage("sha256:" + TestFaults.Sha256(System.Text.Encoding.UTF8.GetBytes(message.ClientId)),
                "sha256:" + TestFaults.Sha256(System.Text.Encoding.UTF8.GetBytes(message.Topic)), message.Payload, message.ReceivedUtc, new Dictionary<string, string>())
            {
                Id = message.Id,

                // Still bound: a replay of it must not chart readings an authenticated device had no right to send.
                Authenticated = message.Authenticated,
            };
            var reason = Bounded($"{deadLetter.Reason} | stored without its MQTT envelope ({message.Properties.Count} properties), which the buffer refused: {ex.GetType().FullName}");
            store.CompleteNormalization([message.Id], [], [deadLetter with { Message = stripped, Reason = reason }], clear);
        }

        metrics?.DeadLettered.Add(1, new KeyValuePair<string, object?>("reason", deadLetter.Code), GatewayMetrics.NormalizeStage);
    }

    /// <summary>Normalize, Group, Serialize and Store for <paramref name="messages"/>; <paramref name="step"/> says how far it got.</summary>
    private Round Complete(IReadOnlyList<InboxMessage> messages, string? clearInHand, ref Step step)
    {
        var measurements = new List<Measurement>();
        var deadLetters = new List<DeadLetter>();
        var now = time.GetUtcNow().UtcDateTime;
        var normalizer = mapping.Current;

        // Spans only while something listens (see PipelineTracing): per message the context its groups continue (its
        // normalize span's), per measurement its message.
        var traced = PipelineTracing.Gateway.HasListeners() ? new NormalizationSpans(messages.Count) : null;
        step = Step.Normalize;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            using var span = traced?.StartNormalize(i, message.TraceParent);
            faults?.OnNormalizing(message);
            var result = normalizer.Normalize(ToDeviceMessage(message));
            if (result.IsSuccess && identity?.Mismatch(message, result.Measurements) is { } mismatch)
            {
                deadLetters.Add(new DeadLetter(message, ErrorCodes.DeviceIdentityMismatch, mismatch, now));
                span?.SetStatus(ActivityStatusCode.Error, ErrorCodes.DeviceIdentityMismatch);
            }
            else if (result.IsSuccess)
            {
                measurements.AddRange(result.Measurements);
                traced?.Add(i, result.Measurements, span);
            }
            else
            {
                deadLetters.Add(new DeadLetter(message, result.Errors[0].Code, Reason(result.Errors), now));
                span?.SetStatus(ActivityStatusCode.Error, result.Errors[0].Code);
            }
        }

        step = Step.Group;
        var groups = MeasurementGrouper.Group(measurements);
        step = Step.Serialize;
        var entries = groups.SelectMany(Serialized).Select(g => new OutboxEntry(g.Group.Key.DeviceId, g.Json, now) { TraceParent = traced?.GroupSpan(g.Group) }).ToList();
        step = Step.Store;
        store.CompleteNormalization(messages.Select(m => m.Id).ToList(), entries, deadLetters, clearInHand);
        metrics?.OnNormalized(measurements, now);
        return new Round(measurements.Count, entries.Count, deadLetters);
    }

    /// <summary>
    /// An exception one message may cause. Not: I/O failures (a full or failing disk) and a closed store, which would
    /// fail every message alike; they go up to the worker, which backs off and retries with nothing dead-lettered.
    /// </summary>
    private static bool OfTheData(Exception ex) => ex is not IOException and not ObjectDisposedException;

    private void Count(Round round, int messages)
    {
        metrics?.Normalized.Add(messages - round.DeadLetters.Count);
        foreach (var deadLetter in round.DeadLetters)
        {
            metrics?.DeadLettered.Add(1, new KeyValuePair<string, object?>("reason", deadLetter.Code), GatewayMetrics.NormalizeStage);
        }

        Log.Normalized(logger, messages, round.Measurements, round.Groups, round.DeadLetters.Count);
    }

    /// <summary>The first few errors and the total count, cut to <see cref="MaxReasonChars"/>: a message can fail every template.</summary>
    private static string Reason(IReadOnlyList<NormalizationError> errors) => ErrorCodes.Summarize(errors, MaxReasonChars);

    internal static string Bounded(string text) => ErrorCodes.Bound(text, MaxReasonChars);

    private enum Step
    {
        Normalize,
        Group,
        Serialize,
        Store,
    }

    private readonly record struct Round(int Measurements, int Groups, IReadOnlyList<DeadLetter> DeadLetters);

    /// <summary>
    /// MedTech's envelope for a gateway message: MQTT user properties and the topic in Properties; the authenticated
    /// client id and the receive time in SystemProperties, where IotJsonPathContent mappings read them.
    /// </summary>
    public static DeviceMessage ToDeviceMessage(InboxMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var properties = new Dictionary<string, string>(message.Properties) { ["mqtt-topic"] = message.Topic };
        return new DeviceMessage(message.Payload, message.ReceivedUtc)
        {
            Properties = properties,
            SystemProperties = new Dictionary<string, string>
            {
                ["iothub-connection-device-id"] = message.ClientId,
                ["iothub-enqueuedtime"] = message.ReceivedUtc.ToString("o", CultureInfo.InvariantCulture),
            },
        };
    }

    /// <summary>The group's hub message; a group too big for one is halved until each part fits.</summary>
    private static IEnumerable<(MeasurementGroup Group, byte[] Json)> Serialized(MeasurementGroup group)
    {
        var json = MeasurementGroupJson.Serialize(group);
        if (group.Measurements.Count <= 1 || json.Length <= MaxMessageBytes)
        {
            return [(group, json)];
        }

        var half = group.Measurements.Count / 2;
        return Serialized(group with { Id = group.Id + "-a", Measurements = group.Measurements.Take(half).ToList() })
            .Concat(Serialized(group with { Id = group.Id + "-b", Measurements = group.Measurements.Skip(half).ToList() }));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Normalized {Messages} messages into {Measurements} measurements in {Groups} groups; {DeadLetters} dead-lettered.")]
        public static partial void Normalized(ILogger logger, int messages, int measurements, int groups, int deadLetters);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "A normalization round of {Messages} messages failed at {Step} ({Error}); redoing it one message at a time.")]
        public static partial void RoundFailed(ILogger logger, int messages, string step, string error);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Inbox message {MessageId} failed at {Step} ({Error}); dead-lettered as ProcessingError.")]
        public static partial void MessageFailed(ILogger logger, long messageId, string step, string error);

        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "The process died while normalizing; retrying the {Messages} messages it held one at a time.")]
        public static partial void Recovering(ILogger logger, int messages);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Inbox message {MessageId} was in hand when the process died twice; dead-lettered as Poison.")]
        public static partial void Poisoned(ILogger logger, long messageId);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "The buffer refused the MQTT envelope of inbox message {MessageId} ({Error}); its dead letter keeps the payload and the envelope's hashes.")]
        public static partial void EnvelopeRefused(ILogger logger, long messageId, string error);
    }
}
