using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Mapping.Normalization;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// The operator's view of what the metrics only count: <c>deadletter show</c> (a real buffer file), <c>buffer devices</c>
/// (the gateway's last-seen file), and <c>writer-deadletter list|show|replay</c> (librdkafka's mock cluster). Payloads and
/// device ids go to stdout only, never to stderr.
/// </summary>
public sealed class OperatorViewCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-cli-view-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenDeadLettersOfJsonTextAndBinary_WhenShown_ThenReasonMetadataAndPayloadArePrintedToStdoutOnly()
    {
        var path = Path.Combine(folder, "gateway.db");
        long[] ids;
        using (var store = new GatewayStore(new BufferOptions { Path = path }))
        {
            store.Append([Message("{\"hr\":\"secret-1\"}"u8.ToArray()), Message(Encoding.UTF8.GetBytes("not json \0 secret-2")), Message([0xff, 0xfe, 0x00, 0x80])]);
            var inbox = store.ReadInbox(10);
            store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [], inbox.Select(m => new DeadLetter(m, ErrorCodes.InvalidDataFormat, "Not JSON.", DateTime.UtcNow)).ToList());
            ids = store.ListDeadLetters().Select(d => d.Id).ToArray();
        }

        var shown = ids.Select(id => Run("deadletter", "show", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--buffer", path)).ToList();

        Assert.All(shown, s => Assert.Equal((0, ""), (s.Exit, s.Error)));
        var json = shown.Select(s => JsonDocument.Parse(s.Output).RootElement).ToList();
        Assert.All(json, j => Assert.Equal(ErrorCodes.InvalidDataFormat, j.GetProperty("code").GetString()));
        Assert.Equal("monitor-1", json[0].GetProperty("clientId").GetString());
        Assert.Equal("secret-1", json[0].GetProperty("payload").GetProperty("json").GetProperty("hr").GetString());
        Assert.Equal("not json \0 secret-2", json[1].GetProperty("payload").GetProperty("text").GetString());
        Assert.Equal(Convert.ToBase64String([0xff, 0xfe, 0x00, 0x80]), json[2].GetProperty("payload").GetProperty("base64").GetString());

        var missing = Run("deadletter", "show", "999999", "--buffer", path);
        Assert.Equal((2, ""), (missing.Exit, missing.Output));
        Assert.Contains("No dead letter has id 999999", missing.Error);
        Assert.Equal(2, Run("deadletter", "show", "1", "--buffer", Path.Combine(folder, "missing.db")).Exit);
    }

    [Fact]
    public void GivenTheGatewaysLastSeenFile_WhenDevicesAreListed_ThenLongestSilentComesFirstAndADamagedFileIsRefusedWithoutItsContent()
    {
        var buffer = Path.Combine(folder, "gateway.db");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
        var activity = new DeviceActivity(time);
        activity.Seen([Reading("bed-1", time.GetUtcNow().UtcDateTime.AddMinutes(-90))]);
        time.Advance(TimeSpan.FromHours(1));
        activity.Seen([Reading("bed-2", time.GetUtcNow().UtcDateTime)]);
        activity.Save(DeviceActivity.PathFor(buffer));
        Assert.Equal(1, activity.SilentLongerThan(TimeSpan.FromMinutes(5)));

        var (exit, output, error) = Run("buffer", "devices", "--buffer", buffer);

        Assert.Equal((0, ""), (exit, error));
        var listed = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.Equal(["bed-1", "bed-2"], listed.Select(d => d.GetProperty("deviceId").GetString()));
        Assert.True(listed[0].GetProperty("silentSeconds").GetDouble() > listed[1].GetProperty("silentSeconds").GetDouble());
        Assert.Equal("[]", Run("buffer", "devices", "--buffer", Path.Combine(folder, "none.db")).Output.Trim());

        File.WriteAllText(DeviceActivity.PathFor(buffer), "[{\"deviceId\":\"bed-secret\",\"lastReceivedUtc\":\"not a date\"}]");
        var damaged = Run("buffer", "devices", "--buffer", buffer);
        Assert.Equal((2, ""), (damaged.Exit, damaged.Output));
        Assert.DoesNotContain("bed-secret", damaged.Error);
    }

    [Fact]
    public void GivenWriterDeadLettersOnTheHub_WhenListedShownAndReplayedByReason_ThenTheyAreReadToTheEndAndSentBackToTheMeasurementsTopic()
    {
        using var cluster = new MockCluster();
        cluster.CreateTopic("fhir-writer-deadletter", 2);
        cluster.CreateTopic("measurements", 1);
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            foreach (var (key, code, payload, partition) in new[] { ("bed-1", "PatientNotFoundException", "{\"id\":\"g1\"}", 0), ("bed-2", "TemplateNotFoundException", "{\"id\":\"g2\"}", 1), ("bed-3", "PatientNotFoundException", "{\"id\":\"g3\"}", 1) })
            {
                producer.Produce(new TopicPartition("fhir-writer-deadletter", partition), new Message<string, byte[]>
                {
                    Key = key,
                    Value = Encoding.UTF8.GetBytes(payload),
                    Headers = [new Header("reason-code", Encoding.UTF8.GetBytes(code)), new Header("reason", Encoding.UTF8.GetBytes("no Patient for the group"))],
                });
            }

            producer.Flush(TimeSpan.FromSeconds(10));
        }

        var hub = new[] { "--bootstrap-servers", cluster.BootstrapServers };
        var list = Run(["writer-deadletter", "list", .. hub]);
        var byReason = Run(["writer-deadletter", "list", "--reason", "PatientNotFoundException", .. hub]);
        var show = Run(["writer-deadletter", "show", "1:1", .. hub]);
        var replay = Run(["writer-deadletter", "replay", "--reason", "PatientNotFoundException", "--hub-topic", "measurements", .. hub]);

        Assert.Equal((0, 0, 0, 0), (list.Exit, byReason.Exit, show.Exit, replay.Exit));
        var listed = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().ToList();
        Assert.Equal(["0:0", "1:0", "1:1"], listed.Select(d => d.GetProperty("id").GetString()));
        Assert.DoesNotContain("g1", list.Output);
        Assert.Equal(["bed-1", "bed-3"], JsonDocument.Parse(byReason.Output).RootElement.EnumerateArray().Select(d => d.GetProperty("key").GetString()));
        var shown = JsonDocument.Parse(show.Output).RootElement;
        Assert.Equal(("bed-3", "g3"), (shown.GetProperty("key").GetString(), shown.GetProperty("payload").GetProperty("json").GetProperty("id").GetString()));
        Assert.Contains("2 dead letter(s) sent back to measurements", replay.Output);
        var replayed = HubReader.Read(cluster.BootstrapServers, "measurements", m => m.Count >= 2, TimeSpan.FromSeconds(30));
        Assert.Equal(["bed-1", "bed-3"], replayed.Select(m => m.Key).Order());
        Assert.Equal(2, Run(["writer-deadletter", "show", "7:7", .. hub]).Exit);
        Assert.Equal(2, Run("writer-deadletter", "list", "--bootstrap-servers", "hub.example.com:9093").Exit);
    }

    private static InboxMessage Message(byte[] payload) =>
        new("monitor-1", "devices/monitor-1/v", payload, DateTime.UtcNow, new Dictionary<string, string>());

    private static Measurement Reading(string device, DateTime received) =>
        new() { Type = "hr", DeviceId = device, OccurrenceTimeUtc = received.AddSeconds(-2), IngestionTimeUtc = received };
}
