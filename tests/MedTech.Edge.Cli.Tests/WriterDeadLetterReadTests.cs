using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// <c>medtech writer-deadletter</c> on what a writer's dead-letter topic really holds (librdkafka's mock cluster): the
/// headers of a hub message (an Event Hubs device message's AMQP-encoded properties, a Kafka producer's repeated
/// names), ids an operator mistypes, and a topic with more letters than are worth holding in memory at once.
/// </summary>
public sealed class WriterDeadLetterReadTests : IDisposable
{
    private const string Topic = "fhir-writer-deadletter";

    private readonly MockCluster cluster = new();

    public WriterDeadLetterReadTests() => cluster.CreateTopic(Topic, 2);

    public void Dispose() => cluster.Dispose();

    [Fact]
    public void GivenADeadLetterWithARepeatedHeaderAndAnAmqpEncodedOne_WhenShown_ThenEachHeaderIsShownAsText()
    {
        // AMQP str8-utf8 (0xA1, length, bytes): how the Event Hubs SDK sends an application property.
        byte[] amqpDevice = [0xA1, 9, .. "monitor-7"u8];
        Produce(0, "bed-1", "{\"id\":\"g1\"}",
            new Header("reason-code", "PatientNotFoundException"u8.ToArray()), new Header("reason", "no Patient"u8.ToArray()),
            new Header("iothub-connection-device-id", amqpDevice), new Header("ward", "3-north"u8.ToArray()), new Header("ward", "4-south"u8.ToArray()));

        var show = Run("writer-deadletter", "show", "0:0", "--bootstrap-servers", cluster.BootstrapServers);

        Assert.Equal((0, ""), (show.Exit, show.Error));
        var headers = JsonDocument.Parse(show.Output).RootElement.GetProperty("headers");
        Assert.Equal("monitor-7", headers.GetProperty("iothub-connection-device-id").GetString());
        Assert.Equal("4-south", headers.GetProperty("ward").GetString());
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1")]
    [InlineData("1:-1")]
    [InlineData("-1:0")]
    [InlineData("1:99999999999999999999")]
    [InlineData("0:5")]
    [InlineData("2:0")]
    [InlineData("1:0\0")]
    public void GivenAnIdNoDeadLetterHas_WhenShown_ThenItSaysSoWithoutAStackTrace(string id)
    {
        Produce(0, "bed-1", "{\"id\":\"g1\"}", new Header("reason-code", "PatientNotFoundException"u8.ToArray()));

        var show = Run("writer-deadletter", "show", id, "--bootstrap-servers", cluster.BootstrapServers);

        Assert.Equal((2, ""), (show.Exit, show.Output));
        Assert.Contains("No dead letter has id", show.Error);
        Assert.DoesNotContain(" at ", show.Error);
    }

    [Fact]
    public void GivenManyDeadLetters_WhenListedShownAndReplayed_ThenEveryOneIsReadAndTheOneAskedForShown()
    {
        cluster.CreateTopic("measurements", 1);
        // 1 KB each: the mock cluster keeps about 5 MB a partition (older offsets go, as retention does on a real hub).
        var payload = new string('x', 1_000);
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 }).Build())
        {
            var failed = 0;
            for (var i = 0; i < 4000; i++)
            {
                producer.Produce(new TopicPartition(Topic, i % 2), new Message<string, byte[]>
                {
                    Key = $"bed-{i}",
                    Value = Encoding.UTF8.GetBytes($"{{\"n\":{i},\"pad\":\"{payload}\"}}"),
                    Headers = [new Header("reason-code", Encoding.UTF8.GetBytes(i % 3 == 0 ? "PatientNotFoundException" : "TemplateNotFoundException"))],
                }, report => failed += report.Error.IsError ? 1 : 0);
            }

            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(60)));
            Assert.Equal(0, failed);
        }

        var hub = new[] { "--bootstrap-servers", cluster.BootstrapServers };
        var list = Run(["writer-deadletter", "list", .. hub]);
        var show = Run(["writer-deadletter", "show", "1:1500", .. hub]);
        var replay = Run(["writer-deadletter", "replay", "--reason", "PatientNotFoundException", "--hub-topic", "measurements", .. hub]);

        Assert.Equal((0, 0, 0), (list.Exit, show.Exit, replay.Exit));
        var ids = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(d => d.GetProperty("id").GetString()).ToList();
        Assert.Equal(4000, ids.Count);
        Assert.Equal(Enumerable.Range(0, 2000).Select(o => $"0:{o}").Concat(Enumerable.Range(0, 2000).Select(o => $"1:{o}")), ids);
        Assert.Equal("bed-3001", JsonDocument.Parse(show.Output).RootElement.GetProperty("key").GetString());
        Assert.Contains("1334 dead letter(s) sent back to measurements", replay.Output);
    }

    private void Produce(int partition, string key, string payload, params Header[] headers)
    {
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        var message = new Message<string, byte[]> { Key = key, Value = Encoding.UTF8.GetBytes(payload), Headers = [] };
        foreach (var header in headers)
        {
            message.Headers.Add(header);
        }

        producer.Produce(new TopicPartition(Topic, partition), message);
        producer.Flush(TimeSpan.FromSeconds(10));
    }
}
