using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Review of issue 23 (tracing), failing on purpose: in cloud normalization (<c>Writer:Input=DeviceMessages</c>) the
/// hub message is the DEVICE's own message, and IoT Hub hands a device's application properties to the consumer as
/// headers. A device that sets <c>traceparent</c> and <c>tracestate</c> properties chooses the trace id of the writer's
/// consume span, whether it is recorded (the sampled flag under the parent-based sampler), and up to 8 KB of
/// tracestate text the tracing backend stores beside the span. A device must speak only for itself; the trace context
/// of a device message should start fresh (or at most be a link), never be the parent.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class Review23TracingTests : WriterPipelineTest
{
    private const string DeviceTopic = "devices";

    // What a hostile (or merely chatty) device puts in its MQTT/AMQP application properties.
    private const string DeviceTraceId = "0af7651916cd43dd8448eb211c80319c";
    private const string DeviceTraceState = "vendor=pt-9XK2-name-Doe";

    private readonly LockedSpans spans = new();
    private readonly TracerProvider tracing;

    public Review23TracingTests()
        : base("medtech-review23-trace-", (DeviceTopic, 1), ("measurements", 1))
    {
        tracing = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Writer.Name).AddInMemoryExporter(spans).Build();
        Own(tracing);
    }

    [Fact]
    public async Task Review23_DeviceSuppliedTraceparent_DoesNotBecomeTheParentOfTheWritersSpans()
    {
        var message = VitalSigns.Messages(devices: 1, perDevice: 1)[0];
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
        {
            ["Hub:Topic"] = DeviceTopic,
            ["Writer:Input"] = "DeviceMessages",
            ["Writer:DeviceMappingPath"] = VitalSigns.DeviceMapping,
            ["Writer:ConsumerGroup"] = "fhir-writer-review23",
            ["Writer:InHandPath"] = Path.Combine(folder, "review23-inhand.json"),
        });
        await writer.StartAsync();

        // As IoT Hub routing gives a device's application properties to a Kafka consumer: AMQP str8 values.
        var headers = new Headers
        {
            { "traceparent", Str8($"00-{DeviceTraceId}-b7ad6b7169203331-01") },
            { "tracestate", Str8(DeviceTraceState) },
        };
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(DeviceTopic, new Message<string, byte[]> { Key = message.DeviceId, Value = message.Json(), Headers = headers });
        }

        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
        await Eventually.HoldsAsync(() => Snapshot().Any(s => s.DisplayName == "consume"), TimeSpan.FromSeconds(30));
        await writer.StopAsync();

        var recorded = Snapshot();
        Assert.DoesNotContain(recorded, s => s.TraceId.ToHexString() == DeviceTraceId);
        Assert.DoesNotContain(recorded, s => (s.TraceStateString ?? "").Contains("pt-9XK2", StringComparison.Ordinal));
    }

    private List<Activity> Snapshot() => spans.Snapshot();

    private static byte[] Str8(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return [0xA1, (byte)bytes.Length, .. bytes];
    }

    /// <summary>The in-memory exporter's list, locked: spans end on the writer's threads while the test reads.</summary>
    private sealed class LockedSpans : System.Collections.ObjectModel.Collection<Activity>
    {
        private readonly object gate = new();

        public List<Activity> Snapshot()
        {
            lock (gate)
            {
                return [.. Items];
            }
        }

        protected override void InsertItem(int index, Activity item)
        {
            lock (gate)
            {
                base.InsertItem(index, item);
            }
        }
    }
}
