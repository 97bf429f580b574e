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
    /// <summary>How long a read waits for the hub before it gives up (the topic is read to its end as the read began).</summary>
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
            var letters = Read(hub, listOptions.DeadLetterTopic(parsed)).Where(m => Matches(m, parsed.GetValue(reason)));
            output.WriteLine(JsonSerializer.Serialize(letters.Select(m => new
            {
                id = Id(m),
                timeUtc = m.Message.Timestamp.UtcDateTime,
                code = Header(m, "reason-code"),
                reason = Header(m, "reason"),
                key = m.Message.Key,
                payloadBytes = m.Message.Value?.Length ?? 0,
                payloadOmitted = Header(m, "payload-omitted"),
            }), Json));
            return MedTechCommand.Success;
        }));

        var show = new Command("show", "Print one of the writer's dead letters: reason, headers, key and payload (stdout only: the payload can hold patient data).");
        var showOptions = new HubArguments(show);
        var id = new Argument<string>("id") { Description = "PARTITION:OFFSET, as 'medtech writer-deadletter list' shows it." };
        show.Arguments.Add(id);
        show.SetAction(parsed => Guarded(showOptions, parsed, error, hub =>
        {
            var wanted = parsed.GetValue(id)!;
            if (Read(hub, showOptions.DeadLetterTopic(parsed)).FirstOrDefault(m => Id(m) == wanted) is not { } letter)
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
                headers = letter.Message.Headers?.ToDictionary(h => h.Key, h => Encoding.UTF8.GetString(h.GetValueBytes())),
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
            var letters = Read(hub, replayOptions.DeadLetterTopic(parsed)).Where(m => Matches(m, parsed.GetValue(replayReason))).ToList();
            var sendable = letters.Where(m => Header(m, "payload-omitted") is null && m.Message.Value is { Length: > 0 }).ToList();
            using var producer = new ProducerBuilder<string, byte[]>(HubClientConfig.Producer(hub)).Build();
            foreach (var letter in sendable)
            {
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
            }

            output.WriteLine($"{sendable.Count} dead letter(s) sent back to {HubClientConfig.Topic(hub)}; {letters.Count - sendable.Count} without a payload (too large for the dead-letter topic) skipped.");
            return MedTechCommand.Success;
        }));

        return new Command("writer-deadletter", "List, show and replay the FHIR writer's dead letters (its dead-letter topic on the hub).") { list, show, replay };
    }

    private static string Id(ConsumeResult<string, byte[]> m) => string.Create(CultureInfo.InvariantCulture, $"{m.Partition.Value}:{m.Offset.Value}");

    private static string? Header(ConsumeResult<string, byte[]> m, string name) =>
        m.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

    private static bool Matches(ConsumeResult<string, byte[]> m, string? code) => code is null || Header(m, "reason-code") == code;

    /// <summary>Every message of <paramref name="topic"/> up to its end when the read began, partition by partition, committing nothing.</summary>
    private static List<ConsumeResult<string, byte[]>> Read(HubOptions hub, string topic)
    {
        var config = HubClientConfig.Consumer(hub, "medtech-cli-" + Guid.NewGuid().ToString("N"));
        config.EnableAutoCommit = false;
        using var consumer = new ConsumerBuilder<string, byte[]>(config).Build();
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var metadata = admin.GetMetadata(topic, Timeout).Topics.Single();
        if (metadata.Error.IsError)
        {
            throw new KafkaException(metadata.Error);
        }

        var ends = new Dictionary<int, long>();
        foreach (var partition in metadata.Partitions)
        {
            var marks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition.PartitionId), Timeout);
            if (marks.High.Value > marks.Low.Value)
            {
                ends[partition.PartitionId] = marks.High.Value;
            }
        }

        var letters = new List<ConsumeResult<string, byte[]>>();
        consumer.Assign(ends.Keys.Select(p => new TopicPartitionOffset(topic, p, Offset.Beginning)));
        var deadline = DateTime.UtcNow + Timeout;
        while (ends.Count > 0)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || consumer.Consume(left) is not { } result)
            {
                throw new TimeoutException($"The dead-letter topic was not read to its end within {Timeout.TotalSeconds} s.");
            }

            if (result.IsPartitionEOF)
            {
                continue;
            }

            letters.Add(result);
            if (result.Offset.Value + 1 >= ends.GetValueOrDefault(result.Partition.Value, long.MaxValue))
            {
                ends.Remove(result.Partition.Value);
            }
        }

        return letters.OrderBy(m => m.Partition.Value).ThenBy(m => m.Offset.Value).ToList();
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
