using System.Globalization;
using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Normalize and Group at the edge: takes the oldest inbox messages, normalizes each against MedTech's envelope,
/// groups the batch's measurements, and in one transaction stores the groups in the outbox, the failed messages as
/// dead letters, and removes the messages from the inbox. A message with any error is dead-lettered whole, so a
/// replay after a mapping fix gives a complete result.
/// </summary>
public sealed partial class NormalizationStage(GatewayStore store, DeviceMappingSource mapping, ILogger<NormalizationStage> logger, GatewayMetrics? metrics = null, TimeProvider? timeProvider = null)
{
    /// <summary>Event Hubs' limit is 1 MB per event; a group bigger than this is split.</summary>
    public const int MaxMessageBytes = 900_000;

    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    /// <summary>Processes up to <paramref name="maxMessages"/>; returns how many it took from the inbox (0 when it is empty).</summary>
    public int RunOnce(int maxMessages)
    {
        var messages = store.ReadInbox(maxMessages);
        if (messages.Count == 0)
        {
            return 0;
        }

        var measurements = new List<Measurement>();
        var deadLetters = new List<DeadLetter>();
        var now = time.GetUtcNow().UtcDateTime;
        var normalizer = mapping.Current;
        foreach (var message in messages)
        {
            var result = normalizer.Normalize(ToDeviceMessage(message));
            if (result.IsSuccess)
            {
                measurements.AddRange(result.Measurements);
            }
            else
            {
                deadLetters.Add(new DeadLetter(message, result.Errors[0].Code, string.Join(" | ", result.Errors.Select(e => e.Message)), now));
            }
        }

        var entries = MeasurementGrouper.Group(measurements).SelectMany(Serialized).Select(g => new OutboxEntry(g.Group.Key.DeviceId, g.Json, now)).ToList();
        store.CompleteNormalization(messages.Select(m => m.Id).ToList(), entries, deadLetters);
        metrics?.Normalized.Add(messages.Count - deadLetters.Count);
        foreach (var deadLetter in deadLetters)
        {
            metrics?.DeadLettered.Add(1, new KeyValuePair<string, object?>("reason", deadLetter.Code));
        }

        Log.Normalized(logger, messages.Count, measurements.Count, entries.Count, deadLetters.Count);
        return messages.Count;
    }

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
    }
}
