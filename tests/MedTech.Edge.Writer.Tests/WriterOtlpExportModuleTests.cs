using System.Globalization;
using System.Text;
using Confluent.Kafka;
using System.Diagnostics;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The FHIR writer module as a process of its own exporting its spans over OTLP/HTTP (protobuf) to a receiver the test
/// runs: a hub message carrying the gateway's traceparent gives consume, transform and persist spans in the gateway's
/// trace (consume a child of the gateway's forward span), under the writer's service name, and the exported bytes hold
/// none of the reading's device id, patient id or value.
/// </summary>
public sealed class WriterOtlpExportModuleTests : WriterPipelineTest
{
    private const string DeviceId = "bedside-R4TW9";
    private const string PatientId = "pt-K2JQ7";
    private const double Value = 131.0625;

    public WriterOtlpExportModuleTests()
        : base("medtech-writer-otlp-", ("measurements", 1))
    {
    }

    [Fact]
    public async Task GivenAnOtlpEndpoint_WhenAForwardedGroupIsWritten_ThenConsumeTransformAndPersistArriveInTheGatewaysTraceUnderTheWriterNameWithoutPatientData()
    {
        using var receiver = new OtlpReceiver();
        var environment = TestHosts.WriterSettings(server.BaseUrl);
        environment["FhirServer__Authentication"] = "None";
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "measurements";
        environment["Writer__InHandPath"] = Path.Combine(folder, "writer-inhand.json");
        environment["Monitoring__Port"] = Ports.Free().ToString(CultureInfo.InvariantCulture);
        environment["Monitoring__BindAddress"] = "127.0.0.1";
        environment[MonitoringExtensions.OtlpEndpointVariable] = receiver.Endpoint;
        environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        environment["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"; // the shipped settings trace one reading in a hundred
        environment["OTEL_BSP_SCHEDULE_DELAY"] = "200";
        using var writer = new ModuleProcess("FhirWriter", "MedTech.Edge.Modules.FhirWriter.dll", folder, environment);

        // As the gateway forwards a group: its forward span's context in the traceparent header.
        var forward = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var group = Assert.Single(MeasurementGrouper.Group([new Measurement
        {
            Type = "heartRate", OccurrenceTimeUtc = new DateTime(2026, 11, 25, 6, 0, 0, DateTimeKind.Utc), DeviceId = DeviceId, PatientId = PatientId,
            Properties = [new MeasurementProperty("heartRate", Value.ToString(CultureInfo.InvariantCulture))],
        }]));
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("measurements", new Message<string, byte[]>
            {
                Key = DeviceId, Value = MeasurementGroupJson.Serialize(group),
                Headers = new Headers { { PipelineTracing.TraceParentHeader, Encoding.UTF8.GetBytes(PipelineTracing.Format(forward)!) } },
            });
        }

        await Eventually.HoldsAsync(() => new[] { "consume", "transform", "persist" }.All(n => receiver.Spans.Any(s => s.Name == n)), TimeSpan.FromSeconds(90),
            () => $"spans: {string.Join(',', receiver.Spans.Select(s => s.Name))}\n{string.Join('\n', writer.Output.TakeLast(20))}");

        var spans = receiver.Spans;
        Assert.All(spans, s => Assert.Equal(forward.TraceId.ToHexString(), s.TraceId));
        Assert.All(spans, s => Assert.Equal("MedTech.Edge.Modules.FhirWriter", s.Service));
        Assert.All(spans, s => Assert.Equal(PipelineTracing.Writer.Name, s.Scope));
        var consume = Assert.Single(spans, s => s.Name == "consume");
        Assert.Equal(forward.SpanId.ToHexString(), consume.ParentSpanId);
        Assert.All(spans.Where(s => s.Name is "transform" or "persist"), s => Assert.Equal(consume.SpanId, s.ParentSpanId));

        var all = receiver.Requests.SelectMany(r => r.Body).ToArray();
        Assert.True(all.AsSpan().IndexOf("messaging.system"u8) >= 0);
        foreach (var needle in new[] { Encoding.UTF8.GetBytes(DeviceId), Encoding.UTF8.GetBytes(PatientId), Encoding.UTF8.GetBytes(Value.ToString(CultureInfo.InvariantCulture)), BitConverter.GetBytes(Value) })
        {
            Assert.True(all.AsSpan().IndexOf(needle) < 0, $"exported bytes contain {Convert.ToHexString(needle)}");
        }

        await writer.KillAsync();
    }
}
