using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// Cloud normalization's spans (Writer:Input=DeviceMessages), exported in memory, through the real parts (librdkafka's
/// mock cluster, the FHIR test server): each device message's consume span starts a trace of its own (a device's
/// traceparent header is the device's word, not ours: it does not choose the trace), its transform span (normalization) is the consume span's child, a message that does not
/// normalize has an error status with its reason code only, and the persist span is a child of one consume span and
/// linked to the rest, as on the gateway-group path. No span carries the device or patient id. Runs alone (the tracer
/// provider listens to every host in the process).
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class CloudNormalizationTracingTests : WriterPipelineTest
{
    private const string DeviceTopic = "devices";
    private const string DeviceId = "cloud-dev-8HQ2";
    private const string PatientId = "cloud-pt-3MZV";
    private readonly PipelineTracingTests.SpanList spans = new();

    public CloudNormalizationTracingTests()
        : base("medtech-cloudtrace-", (DeviceTopic, 1)) =>
        Own(Sdk.CreateTracerProviderBuilder().AddSource(PipelineTracing.Writer.Name).AddInMemoryExporter(spans).Build());

    [Fact]
    public async Task GivenTracedDeviceMessages_WhenTheCloudWriterNormalizesAndPersistsThem_ThenTransformAndPersistSpansFollowTheirConsumeSpansWithoutPatientData()
    {
        var readings = Enumerable.Range(0, 2).Select(i => new VitalSigns.Message(DeviceId, PatientId, new DateTime(2026, 11, 24, 10, 0, i, DateTimeKind.Utc), 70 + i, 97, 15, 36.9m, 118, 77)).ToList();
        // Two readings and one message without a device id (a dead letter), each sent with a trace context of its device's.
        var producers = Enumerable.Range(0, 3).Select(_ => new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded)).ToList();
        var bodies = readings.Select(r => r.Json()).Append(Encoding.UTF8.GetBytes($$"""{"patientId":"{{PatientId}}","heartRate":71,"timestamp":"2026-11-24T10:00:05Z"}""")).ToList();

        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
        {
            ["Hub:Topic"] = DeviceTopic,
            ["Writer:Input"] = "DeviceMessages",
            ["Writer:DeviceMappingPath"] = VitalSigns.DeviceMapping,
            ["Writer:ConsumerGroup"] = "fhir-writer-cloud",
            ["Writer:InHandPath"] = Path.Combine(folder, "cloud-inhand.json"),
        });
        await writer.StartAsync();
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            for (var i = 0; i < bodies.Count; i++)
            {
                var headers = new Headers { { PipelineTracing.TraceParentHeader, Encoding.UTF8.GetBytes(PipelineTracing.Format(producers[i])!) } };
                await producer.ProduceAsync(DeviceTopic, new Message<string, byte[]> { Key = DeviceId, Value = bodies[i], Headers = headers });
            }
        }

        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == readings.Count * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
        Assert.Single(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", r => r.Count >= 1, TimeSpan.FromSeconds(60)));
        // The consume spans end last (after the dead letters are sent).
        await Eventually.HoldsAsync(() => spans.Snapshot().Count(s => s.DisplayName == "consume") == bodies.Count, TimeSpan.FromSeconds(30),
            () => string.Join(", ", spans.Snapshot().Select(s => s.DisplayName)));
        await writer.StopAsync();

        var all = spans.Snapshot();
        var consumes = all.Where(s => s.DisplayName == "consume").ToList();
        // Each consume span is a root of its own trace: none continues the trace a device sent.
        Assert.All(consumes, c => Assert.Equal(default, c.ParentSpanId));
        Assert.Empty(consumes.Select(c => c.TraceId).Intersect(producers.Select(p => p.TraceId)));
        Assert.Equal(bodies.Count, consumes.Select(c => c.TraceId).Distinct().Count());

        // One transform span per message, a child of that message's consume span; the dead letter's has its reason code.
        var transforms = all.Where(s => s.DisplayName == "transform").ToList();
        Assert.Equal(bodies.Count, transforms.Count);
        var consumeIds = consumes.ToDictionary(c => c.SpanId);
        Assert.All(transforms, t => Assert.Equal(consumeIds[t.ParentSpanId].TraceId, t.TraceId));
        Assert.Equal(consumes.Select(c => c.SpanId.ToHexString()).Order(), transforms.Select(t => t.ParentSpanId.ToHexString()).Order());
        var failed = Assert.Single(transforms, t => t.Status == ActivityStatusCode.Error);
        Assert.DoesNotContain(failed.TraceId, producers.Select(p => p.TraceId));
        Assert.Equal(ErrorCodes(failed.StatusDescription), failed.StatusDescription);
        Assert.All(transforms.Where(t => t != failed), t => Assert.True((int)t.GetTagItem("medtech.measurements")! >= VitalSigns.ObservationsPerMessage));

        // Persist: a child of one consume span of its batch, linked to the others; every consume span reached by one.
        var persists = all.Where(s => s.DisplayName == "persist").ToList();
        Assert.NotEmpty(persists);
        Assert.All(persists, p => Assert.Equal(ActivityKind.Client, p.Kind));
        Assert.All(persists, p => Assert.True(consumeIds.ContainsKey(p.ParentSpanId)));
        var reached = persists.SelectMany(p => p.Links.Select(l => l.Context.SpanId).Append(p.ParentSpanId)).ToHashSet();
        Assert.Superset(consumeIds.Keys.ToHashSet(), reached);

        foreach (var span in all)
        {
            var texts = new[] { span.DisplayName, span.StatusDescription ?? "" }.Concat(span.TagObjects.Select(t => $"{t.Key}={t.Value}"));
            Assert.All(texts, t => Assert.DoesNotContain(DeviceId, t, StringComparison.OrdinalIgnoreCase));
            Assert.All(texts, t => Assert.DoesNotContain(PatientId, t, StringComparison.OrdinalIgnoreCase));
        }
    }

    /// <summary>A reason code is one word of letters (the gateway's codes), never a sentence that could quote the message.</summary>
    private static string? ErrorCodes(string? description) =>
        description is { Length: > 0 } d && d.All(char.IsAsciiLetter) ? d : "not a code: " + description;
}
