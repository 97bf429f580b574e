using System.Net;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// review23c: on the edge path a hub message carries the gateway's name (<see cref="HubOptions.GatewayHeader"/>), which
/// the writer puts in the Provenance of the Observations it writes (the audit trail: which gateway, which ward), and
/// the gateway's traceparent. When the FHIR server refuses the group (a 400 for one entry), the writer's dead letter
/// keeps neither: HubWriterWorker keeps a message's headers as the dead letter's envelope only on the
/// cloud-normalization input. "Replay after the fix" (medtech writer-deadletter replay) can then only send the group
/// back without its gateway: its Observations are written with a Provenance that names no gateway, and the replayed
/// reading's trace starts anew. Mock cluster, writer host, FHIR test server answering 400.
/// </summary>
public sealed class Review23cDeadLetterHeaderTests : WriterPipelineTest
{
    public Review23cDeadLetterHeaderTests()
        : base("medtech-r23c-dlq-", ("measurements", 1))
    {
    }

    [Fact]
    public async Task GivenAGroupTheFhirServerRefuses_WhenDeadLettered_ThenTheDeadLetterKeepsTheGatewayAndTraceHeaders()
    {
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await writer.StartAsync();

        // Every request of the next few answered 400: the group is refused as a whole and dead-lettered.
        await server.FailNextAsync(20, HttpStatusCode.BadRequest);
        const string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("measurements", new Message<string, byte[]>
            {
                Key = "monitor-r23c",
                Value = Group(),
                Headers = [new Header(HubOptions.GatewayHeader, "ward-7-gateway"u8.ToArray()), new Header("traceparent", Encoding.UTF8.GetBytes(traceparent))],
            });
        }

        var deadLetter = Assert.Single(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", r => r.Count >= 1, TimeSpan.FromSeconds(60)));
        await server.FailNextAsync(0, HttpStatusCode.BadRequest);
        await writer.StopAsync();

        string? Header(string name) => deadLetter.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
        Assert.Equal("FhirResourceRejected", Header("reason-code"));
        Assert.True(Header(HubOptions.GatewayHeader) == "ward-7-gateway" && Header("traceparent") == traceparent,
            $"the dead letter keeps only [{string.Join(", ", deadLetter.Headers.Select(h => h.Key))}]: a replay cannot name the gateway in the Provenance");
    }

    /// <summary>One measurement group of a heart rate reading, as the gateway sends it.</summary>
    private static byte[] Group() => MeasurementGroupJson.Serialize(Assert.Single(MeasurementGrouper.Group(
    [
        new Measurement
        {
            Type = "heartRate",
            OccurrenceTimeUtc = DateTime.UtcNow.AddMinutes(-1),
            DeviceId = "monitor-r23c",
            PatientId = "patient-r23c",
            Properties = [new MeasurementProperty("heartRate", "72")],
        },
    ])));
}
