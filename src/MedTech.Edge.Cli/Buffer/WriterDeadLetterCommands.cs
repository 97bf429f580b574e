using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using MedTech.Edge.Hub;
using MedTech.Edge.Writer;

namespace MedTech.Edge.Cli.Buffer;

/// <summary>
/// <c>medtech writer-deadletter list|show|replay</c>: the FHIR writer's dead-letter topic, as <c>medtech deadletter</c>
/// does for the gateway's buffer. A dead letter's id is <c>PARTITION:OFFSET</c>. The hub is named as the modules name it:
/// <c>Hub__ConnectionString</c> from the environment (a secret: never a command-line argument, which <c>ps</c> shows), or
/// <c>--bootstrap-servers</c> for plain Kafka on loopback. list never prints payloads; show prints one to stdout only.
/// replay produces the dead letters (all, or one reason code, with the headers the hub message had) back to the
/// measurements topic for the writer to try again;
/// the topic keeps them (Kafka cannot delete one message), so a second replay sends them again: the writer's writes are
/// idempotent (the same Observation is updated), and one that still fails is dead-lettered again.
/// </summary>
internal static class WriterDeadLetterCommands
{
    /// <summary>How long a read waits for the hub to send anything before it gives up (the topic is read to its end as the read began).</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Command Create(TextWriter output, TextWriter error)
    {
        var list = new Command("list", "List the writer's dead letters (id, time, reason code and text, key, payload size; never the payload).");
        var listOptions = new HubArguments(list);
        var reason = new Option<string?>("--reason") { Description = "Only this reason code, e.g. PatientNotFoundException." };
        list.Options.Add(reason);
        list.SetAction(parsed => Guarded(listOptions, parsed, error, hub =>
        {
            // A summary per letter as it is read (never its payload): a topic of large letters is not held in memory.
            var letters = Read(hub, listOptions.DeadLetterTopic(parsed)).Where(m => Matches(m, parsed.GetValue(reason))).Select(m => new
            {
                partition = m.Partition.Value,
                offset = m.Offset.Value,
                summary = new
                {
                    id = Id(m),
                    timeUtc = m.Message.Timestamp.UtcDateTime,
                    code = Header(m, "reason-code"),
                    reason = Header(m, "reason"),
                    key = m.Message.Key,
                    payloadBytes = m.Message.Value?.Length ?? 0,
                    payloadOmitted = Header(m, "payload-omitted"),
                },
            }).ToList();
            output.WriteLine(JsonSerializer.Serialize(letters.OrderBy(l => l.partition).ThenBy(l => l.offset).Select(l => l.summary), Json));
            return MedTechCommand.Success;
        }));

        var show = new Command("show", "Print one of the writer's dead letters: reason, headers, key and payload (stdout only: the payload can hold patient data).");
        var showOptions = new HubArguments(show);
        var id = new Argument<string>("id") { Description = "PARTITION:OFFSET, as 'medtech writer-deadletter list' shows it." };
        show.Arguments.Add(id);
        show.SetAction(parsed => Guarded(showOptions, parsed, error, hub =>
        {
            var wanted = parsed.GetValue(id)!;
            if (ReadOne(hub, showOptions.DeadLetterTopic(parsed), wanted) is not { } letter)
            {
                error.WriteLine($"No dead letter has id {wanted}; 'medtech writer-deadletter list' shows the ids.");
                return MedTechCommand.UsageError;
            }

            output.WriteLine(JsonSerializer.Serialize(new
            {
                id = Id(letter),
                timeUtc = letter.Message.Timestamp.UtcDateTime,
                code = Header(letter, "reason-code"),
                reason = Header(letter, "reason"),
                // As the writer reads them (UTF-8, or AMQP-encoded from the Event Hubs SDK); a repeated name shows its last value.
                headers = letter.Message.Headers?.GroupBy(h => h.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => AmqpHeaderValue.ToText(g.Last().GetValueBytes()), StringComparer.Ordinal),
                key = letter.Message.Key,
                payloadBytes = letter.Message.Value?.Length ?? 0,
                payload = DeadLetterPayload.Describe(letter.Message.Value ?? []),
            }, Json));
            return MedTechCommand.Success;
        }));

        var replay = new Command("replay", "Send the writer's dead letters (all, or one reason code) back to the measurements topic, after the fix (a FHIR mapping, a Patient created).");
        var replayOptions = new HubArguments(replay);
        var replayReason = new Option<string?>("--reason") { Description = "Only this reason code." };
        replay.Options.Add(replayReason);
        replay.SetAction(parsed => Guarded(replayOptions, parsed, error, hub =>
        {
            // With plain Kafka the dead-letter topic stands in for the measurements topic (list and show need none);
            // replay must not send the letters back to where they are.
            if (HubClientConfig.Topic(hub) == replayOptions.DeadLetterTopic(parsed))
            {
                error.WriteLine("replay sends to the measurements topic: name it with --hub-topic (it is not the dead-letter topic).");
                return MedTechCommand.UsageError;
            }

            // Sent as read, each acknowledged before the next (a topic of large letters is not held in memory).
            int sent = 0, skipped = 0;
            using var producer = new ProducerBuilder<string, byte[]>(HubClientConfig.Producer(hub)).Build();
            foreach (var letter in Read(hub, replayOptions.DeadLetterTopic(parsed)).Where(m => Matches(m, parsed.GetValue(replayReason))))
            {
                if (Header(letter, "payload-omitted") is not null || letter.Message.Value is not { Length: > 0 })
                {
                    skipped++;
                    continue;
                }

                // The hub message's own headers go back with it (a device message's envelope, a group's gateway and
                // trace context), so the replay is read as the first time was; the dead letter's own are left behind.
                var kept = (letter.Message.Headers ?? []).Where(h => h.Key is not ("reason-code" or "reason" or "payload-omitted" or "replayed-from"));
                var message = new Message<string, byte[]>
                {
                    Key = letter.Message.Key,
                    Value = letter.Message.Value,
                    Headers = [.. kept.Select(h => new Header(h.Key, h.GetValueBytes())), new Header("replayed-from", Encoding.UTF8.GetBytes(Id(letter)))],
                };
                producer.ProduceAsync(HubClientConfig.Topic(hub), message).GetAwaiter().GetResult();
                sent++;
            }

            output.WriteLine($"{sent} dead letter(s) sent back to {HubClientConfig.Topic(hub)}; {skipped} without a payload (too large for the dead-letter topic) skipped.");
            return MedTechCommand.Success;
        }));

        return new Command("writer-deadletter", "List, show and replay the FHIR writer's dead letters (its dead-letter topic on the hub).") { list, show, replay };
    }

    private static string Id(ConsumeResult<string, byte[]> m) => string.Create(CultureInfo.InvariantCulture, $"{m.Partition.Value}:{m.Offset.Value}");

    private static string? Header(ConsumeResult<string, byte[]> m, string name) =>
        m.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    private static bool Matches(ConsumeResult<string, byte[]> m, string? code) => code is null || Header(m, "reason-code") == code;

    /// <summary>
    /// Every message of <paramref name="topic"/> up to its end when the read began, handed over as read (each partition in
    /// offset order, partitions interleaved), committing nothing. Gives up when the hub sends nothing for
    /// <see cref="Timeout"/>: a large topic takes as long as it takes, a hub that stopped answering does not.
    /// </summary>
    private static IEnumerable<ConsumeResult<string, byte[]>> Read(HubOptions hub, string topic)
    {
        using var consumer = Consumer(hub);
        var ends = new Dictionary<int, long>();
        foreach (var partition in Partitions(consumer, topic))
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition), Timeout);
            if (marks.High.Value > marks.Low.Value)
            {
                ends[partition] = marks.High.Value;
            }
        }

        consumer.Assign(ends.Keys.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        while (ends.Count > 0)
        {
            if (consumer.Consume(Timeout) is not { } result)
            {
                throw new TimeoutException($"The hub sent nothing for {Timeout.TotalSeconds} s before the dead-letter topic's end.");
            }

            // Past a partition's end as the read began (or an end-of-partition event): not this read's.
            if (result.IsPartitionEOF || !ends.TryGetValue(result.Partition.Value, out var end) || result.Offset.Value >= end)
            {
                continue;
            }

            if (result.Offset.Value + 1 >= end)
            {
                ends.Remove(result.Partition.Value);
            }

            yield return result;
        }
    }

    /// <summary>The dead letter <c>PARTITION:OFFSET</c> names, read from there alone; null when no letter has that id.</summary>
    private static ConsumeResult<string, byte[]>? ReadOne(HubOptions hub, string topic, string id)
    {
        var parts = id.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var partition)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
        {
            return null;
        }

        using var consumer = Consumer(hub);
        if (!Partitions(consumer, topic).Contains(partition))
        {
            return null;
        }

        var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition), Timeout);
        if (offset < marks.Low.Value || offset >= marks.High.Value)
        {
            return null;
        }

        consumer.Assign(new TopicPartitionOffset(topic, partition, offset));
        while (true)
        {
            var result = consumer.Consume(Timeout) ?? throw new TimeoutException($"The hub sent nothing for {Timeout.TotalSeconds} s.");
            if (!result.IsPartitionEOF && result.Offset.Value < offset)
            {
                continue;
            }

            // The offset may be gone (retention) or a transaction marker: the next message is not the one asked for.
            return !result.IsPartitionEOF && result.Offset.Value == offset ? result : null;
        }
    }

    private static IConsumer<string, byte[]> Consumer(HubOptions hub)
    {
        var config = HubClientConfig.Consumer(hub, "medtech-cli-" + Guid.NewGuid().ToString("N"));
        config.EnableAutoCommit = false;
        return new ConsumerBuilder<string, byte[]>(config).Build();
    }

    private static List<int> Partitions(IConsumer<string, byte[]> consumer, string topic)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var metadata = admin.GetMetadata(topic, Timeout).Topics.Single();
        if (metadata.Error.IsError)
        {
            throw new KafkaException(metadata.Error);
        }

        return metadata.Partitions.ConvertAll(p => p.PartitionId);
    }

    private static int Guarded(HubArguments arguments, ParseResult parsed, TextWriter error, Func<HubOptions, int> work)
    {
        var hub = arguments.Hub(parsed);
        var problems = hub.Validate();
        if (problems.Count > 0)
        {
            error.WriteLine(string.Join(Environment.NewLine, problems));
            return MedTechCommand.UsageError;
        }

        try
        {
            return work(hub);
        }
        catch (Exception ex) when (ex is KafkaException or TimeoutException)
        {
            // The error's type and code, not its text: librdkafka's messages can carry the SASL user (the connection string's name).
            error.WriteLine($"The hub could not be read or written ({ex.GetType().Name}{(ex is KafkaException k ? ": " + k.Error.Code : "")}).");
            return MedTechCommand.UsageError;
        }
    }

    /// <summary>The options every subcommand takes to reach the hub.</summary>
    private sealed class HubArguments
    {
        private readonly Option<string?> bootstrapServers = new("--bootstrap-servers") { Description = "Plain Kafka on loopback (tests); otherwise set Hub__ConnectionString in the environment." };
        private readonly Option<string?> hubTopic = new("--hub-topic") { Description = "The measurements topic (event hub) replay sends to; default: the connection string's EntityPath." };
        private readonly Option<string> topic = new("--topic") { Description = "The writer's dead-letter topic (Writer:DeadLetterTopic).", DefaultValueFactory = _ => new WriterOptions().DeadLetterTopic };

        public HubArguments(Command command)
        {
            command.Options.Add(bootstrapServers);
            command.Options.Add(hubTopic);
            command.Options.Add(topic);
        }

        public string DeadLetterTopic(ParseResult parsed) => parsed.GetValue(topic)!;

        public HubOptions Hub(ParseResult parsed)
        {
            var connection = Environment.GetEnvironmentVariable("Hub__ConnectionString");
            var servers = parsed.GetValue(bootstrapServers);
            return new HubOptions
            {
                ConnectionString = servers is null ? connection : null,
                BootstrapServers = servers,

                // list and show need no measurements topic; the dead-letter topic stands in so the options validate.
                Topic = parsed.GetValue(hubTopic) ?? (servers is null ? null : parsed.GetValue(topic)),
                GatewayName = null,
            };
        }
    }
}
