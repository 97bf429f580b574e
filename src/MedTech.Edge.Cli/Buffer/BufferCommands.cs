using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Cli.Buffer;

/// <summary>
/// <c>medtech deadletter list|replay</c> and <c>medtech buffer stats|salvage</c> on a gateway's LiteDB file. The file
/// belongs to one process: stop the gateway module first. Payloads are never printed (they can hold patient data).
/// <c>list</c> and <c>stats</c> open the file read-only and change no byte of it; a file that is missing, not a
/// buffer, or unreadable is refused with exit code 2.
/// </summary>
internal static class BufferCommands
{
    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var listReason = ReasonOption();
        var listBuffer = BufferOption();
        var list = new Command("list", "List dead letters: device messages (device, topic) and measurement groups (key); time, reason code and text, never the payload.") { listBuffer, listReason };
        list.SetAction(parsed => Inspect(parsed.GetValue(listBuffer)!, error, store => WriteJson(output, DeadLetterRows(store, parsed.GetValue(listReason)))));

        var showId = new Argument<long>("id") { Description = "The dead letter's id, as 'medtech deadletter list' shows it." };
        var showBuffer = BufferOption();
        var show = new Command("show", "Print one dead letter: reason, metadata and payload (stdout only: the payload can hold patient data).") { showId, showBuffer };
        show.SetAction(parsed =>
        {
            var id = parsed.GetValue(showId);
            var found = false;
            var code = Inspect(parsed.GetValue(showBuffer)!, error, store =>
            {
                if (store.FindDeadLetter(id) is { } d)
                {
                    found = true;
                    WriteDeadLetter(output, d);
                }
            });
            if (code == MedTechCommand.Success && !found)
            {
                error.WriteLine($"No dead letter has id {id}; 'medtech deadletter list' shows the ids.");
                return MedTechCommand.UsageError;
            }

            return code;
        });

        var devicesBuffer = BufferOption();
        var devices = new Command("devices", "When each device was last heard from, longest silent first (stdout only: device ids are identifiers). Reads the list the running gateway keeps beside the buffer.") { devicesBuffer };
        devices.SetAction(parsed => ListDevices(parsed.GetValue(devicesBuffer)!, output, error));

        var replayReason = ReasonOption();
        var replayBuffer = BufferOption();
        var replay = new Command("replay", "Move dead letters back to the inbox (after a mapping fix); the gateway normalizes them again when it starts.") { replayBuffer, replayReason };
        replay.SetAction(parsed => Run(parsed.GetValue(replayBuffer)!, error, store =>
            output.WriteLine($"{store.ReplayDeadLetters(parsed.GetValue(replayReason))} dead letter(s) moved back to the inbox.")));

        var statsBuffer = BufferOption();
        var stats = new Command("stats", "Counts per collection, oldest unsent age, file size, drops by reason.") { statsBuffer };
        stats.SetAction(parsed => Inspect(parsed.GetValue(statsBuffer)!, error, store => WriteJson(output, store.Stats())));

        yield return new Command("deadletter", "List, show and replay the gateway's dead letters.") { list, show, replay };
        yield return new Command("buffer", "Inspect the gateway's durable buffer, or salvage a damaged one.") { stats, devices, BufferSalvage.Create(output, error) };
    }

    /// <summary>One dead letter whole: reason, metadata and the payload (as JSON when it is JSON). Stdout only.</summary>
    private static void WriteDeadLetter(TextWriter output, DeadLetter d) =>
        WriteJson(output, new
        {
            id = d.Id,
            deadLetteredUtc = d.DeadLetteredUtc,
            code = d.Code,
            reason = d.Reason,
            clientId = d.Message.ClientId,
            topic = d.Message.Topic,
            receivedUtc = d.Message.ReceivedUtc,
            authenticated = d.Message.Authenticated,
            properties = d.Message.Properties,
            payloadBytes = d.Message.Payload.Length,
            payload = DeadLetterPayload.Describe(d.Message.Payload),
        });

    /// <summary>The device last-seen list (<see cref="Gateway.DeviceActivity"/>); readable while the gateway runs: it is a file of its own.</summary>
    private static int ListDevices(string bufferPath, TextWriter output, TextWriter error)
    {
        var path = Gateway.DeviceActivity.PathFor(bufferPath);
        try
        {
            var now = DateTime.UtcNow;
            WriteJson(output, Gateway.DeviceActivity.Read(path).OrderBy(d => d.LastReceivedUtc).Select(d => new
            {
                deviceId = d.DeviceId,
                lastReceivedUtc = d.LastReceivedUtc,
                lastDeviceTimeUtc = d.LastDeviceTimeUtc,
                silentSeconds = Math.Max(0, Math.Round((now - d.LastReceivedUtc).TotalSeconds)),
            }));
            return MedTechCommand.Success;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{path}: cannot read the device list ({ex.GetType().Name}).");
            return MedTechCommand.UsageError;
        }
    }

    /// <summary>Both kinds in the order they were dead-lettered; a group has a key where a message has a device and topic.</summary>
    private static IEnumerable<DeadLetterRow> DeadLetterRows(GatewayStore store, string? code) =>
        store.ListDeadLetters(code).Select(d => new DeadLetterRow(d.Id, "message", d.DeadLetteredUtc, d.Code, d.Reason, d.Message.Payload.Length)
            {
                ClientId = d.Message.ClientId,
                Topic = d.Message.Topic,
                ReceivedUtc = d.Message.ReceivedUtc,
            })
            .Concat(store.ListGroupDeadLetters(code).Select(g => new DeadLetterRow(g.Id, "group", g.DeadLetteredUtc, g.Code, g.Reason, g.Payload.Length) { Key = g.Key }))
            .OrderBy(r => r.Id);

    private sealed record DeadLetterRow(long Id, string Kind, DateTime DeadLetteredUtc, string Code, string Reason, int PayloadBytes)
    {
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? ClientId { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Topic { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public DateTime? ReceivedUtc { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Key { get; init; }
    }

    private static Option<string> BufferOption() => new("--buffer")
    {
        Description = "The gateway's LiteDB file (Buffer:Path).",
        DefaultValueFactory = _ => new BufferOptions().Path,
    };

    private static Option<string?> ReasonOption() => new("--reason") { Description = "Only this reason code, e.g. DroppedEvent." };

    /// <summary>Runs <paramref name="action"/> on the file opened read-only.</summary>
    private static int Inspect(string path, TextWriter error, Action<GatewayStore> action) => Guarded(path, error, () =>
    {
        using var store = GatewayStore.OpenReadOnly(path);
        action(store);
    });

    /// <summary>Runs <paramref name="action"/> on the file opened for writing, once a read-only open showed it is a readable buffer.</summary>
    private static int Run(string path, TextWriter error, Action<GatewayStore> action) => Guarded(path, error, () =>
    {
        GatewayStore.OpenReadOnly(path).Dispose();
        using var store = new GatewayStore(new BufferOptions { Path = path });
        action(store);
    });

    private static int Guarded(string path, TextWriter error, Action work)
    {
        try
        {
            work();
            return MedTechCommand.Success;
        }
        catch (BufferFileDamagedException ex)
        {
            error.WriteLine(ex.Message);
            return MedTechCommand.UsageError;
        }
        catch (IOException ex) when (ex.GetType() == typeof(IOException))
        {
            error.WriteLine($"{path}: cannot open the buffer ({ex.Message}); stop the gateway module first, the file belongs to one process.");
            return MedTechCommand.UsageError;
        }
        catch (Exception ex) when (ex is InvalidCastException or IOException or InvalidOperationException or ArgumentException or IndexOutOfRangeException or OverflowException)
        {
            // Read-only, so nothing was changed; the document the error came from is damaged.
            error.WriteLine($"{path}: the buffer is damaged ({ex.GetType().Name}); copy what is readable with 'medtech buffer salvage --from {path} --to <new file>'.");
            return MedTechCommand.UsageError;
        }
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private static void WriteJson<T>(TextWriter output, T value) => output.WriteLine(JsonSerializer.Serialize(value, Json));
}
