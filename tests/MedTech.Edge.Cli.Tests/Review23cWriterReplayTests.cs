using System.Text;
using Confluent.Kafka;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>
/// review23c: <c>medtech writer-deadletter replay</c> on the cloud-normalization path (the MedTech migration). There the
/// writer keeps a device message's envelope in its dead letter (HubWriterWorker: IoT Hub's system properties and the
/// device's application properties as headers before <c>reason-code</c>/<c>reason</c>), because an IotJsonPathContent
/// mapping reads the device id from <c>$.SystemProperties.iothub-connection-device-id</c> (tests/Conformance's IoT Hub
/// cases). A replay must send the message back as the device sent it, envelope included, or the fixed mapping still
/// finds no device id and the message is dead-lettered again: "replay after the fix" could never work.
/// </summary>
public sealed class Review23cWriterReplayTests
{
    [Fact]
    public void GivenADeviceMessageDeadLetterWithItsIotHubEnvelope_WhenReplayed_ThenTheMessageGoesBackWithItsEnvelope()
    {
        using var cluster = new MockCluster();
        cluster.CreateTopic("fhir-writer-deadletter", 1);
        cluster.CreateTopic("devicedata", 1);
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            // As HubWriterWorker.DeadLetterAsync writes one on the device-message input: envelope, then the reason.
            producer.Produce(new TopicPartition("fhir-writer-deadletter", 0), new Message<string, byte[]>
            {
                Key = "",
                Value = "{\"HeartRate\":78}"u8.ToArray(),
                Headers =
                [
                    new Header("iothub-connection-device-id", "bed-7"u8.ToArray()),
                    new Header("iothub-enqueuedtime", "2026-12-07T23:10:00.0000000Z"u8.ToArray()),
                    new Header("ward", "icu-2"u8.ToArray()),
                    new Header("reason-code", "TemplateNotFoundException"u8.ToArray()),
                    new Header("reason", "no template matched the message"u8.ToArray()),
                ],
            });
            producer.Flush(TimeSpan.FromSeconds(10));
        }

        var replay = Run("writer-deadletter", "replay", "--hub-topic", "devicedata", "--bootstrap-servers", cluster.BootstrapServers);

        Assert.Equal(0, replay.Exit);
        var replayed = Assert.Single(HubReader.Read(cluster.BootstrapServers, "devicedata", m => m.Count >= 1, TimeSpan.FromSeconds(30)));
        Assert.Equal("{\"HeartRate\":78}", Encoding.UTF8.GetString(replayed.Value));
        Assert.Equal(
            [("iothub-connection-device-id", "bed-7"), ("iothub-enqueuedtime", "2026-12-07T23:10:00.0000000Z"), ("ward", "icu-2")],
            replayed.Headers.Where(h => h.Key is not "replayed-from").Select(h => (h.Key, Encoding.UTF8.GetString(h.GetValueBytes()))));
    }
}
