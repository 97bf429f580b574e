using Confluent.Kafka;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// Review s7: <c>writer-deadletter replay --bootstrap-servers</c> without <c>--hub-topic</c>. HubArguments lets the
/// dead-letter topic stand in for the measurements topic "for list and show", but replay uses the same options and
/// sends every letter back to the dead-letter topic itself: nothing reaches the writer, the topic doubles, and the
/// output says "sent back". Replay must refuse without a measurements topic (or use the real one). Mock cluster.
/// </summary>
public sealed class WriterDeadLetterReplayTargetTests : IDisposable
{
    private const string Topic = "fhir-writer-deadletter";

    private readonly MockCluster cluster = new();

    public WriterDeadLetterReplayTargetTests() => cluster.CreateTopic(Topic, 1);

    public void Dispose() => cluster.Dispose();

    [Fact]
    public void GivenNoHubTopic_WhenReplayedOverPlainKafka_ThenNothingIsSentToTheDeadLetterTopicItself()
    {
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            producer.Produce(new TopicPartition(Topic, 0), new Message<string, byte[]>
            {
                Key = "bed-1",
                Value = "{\"id\":\"g1\"}"u8.ToArray(),
                Headers = [new Header("reason-code", "PatientNotFoundException"u8.ToArray()), new Header("reason", "no Patient"u8.ToArray())],
            });
            Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(10)));
        }

        var replay = Run("writer-deadletter", "replay", "--bootstrap-servers", cluster.BootstrapServers);

        using var consumer = new ConsumerBuilder<string, byte[]>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "s7-check" }).Build();
        var marks = consumer.QueryWatermarkOffsets(new TopicPartition(Topic, 0), TimeSpan.FromSeconds(10));
        Assert.Equal(1, marks.High.Value);
        Assert.DoesNotContain("sent back to " + Topic, replay.Output);
    }
}
