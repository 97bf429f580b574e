using System.Globalization;
using System.Text.Json;
using Confluent.Kafka;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using Microsoft.Extensions.Hosting;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// Issue 21 (cloud normalization and shadow mode) through the mock cluster and the FHIR test server:
/// a device that names another device in its own properties, and a shadow run's effect on the consumer group it shares.
/// </summary>
public sealed class SpoofingAndShadowCutOverTests : WriterPipelineTest
{
    private const string Attacker = "hub-monitor-attacker";
    private const string Victim = "hub-monitor-victim";
    private static readonly DateTime Enqueued = new(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);

    public SpoofingAndShadowCutOverTests()
        : base("medtech-review21-", ("devices", 2))
    {
    }

    // Was a review finding: a device puts "iothub-connection-device-id: <another device>" (and an enqueued time) first among 256 application properties;
    // the envelope stops reading at 256 headers, so IoT Hub's own (authenticated) device id after them is dropped and the reading is charted to the victim's Device.
    [Fact]
    public async Task GivenASpoofedDeviceIdBeforeManyProperties_WhenWritten_ThenIotHubsOwnDeviceIdIsStillReadAndTheVictimGetsNothing()
    {
        var spoofed = new Headers
        {
            { "iothub-connection-device-id", EventHubEnvelopeTests.Str8(Victim) },
            { "iothub-enqueuedtime", EventHubEnvelopeTests.Timestamp(Enqueued) },
        };
        for (var i = 0; i < EventHubEnvelopeLimit; i++)
        {
            spoofed.Add($"prop-{i}", EventHubEnvelopeTests.Str8("x"));
        }

        foreach (var header in IotHubSystemProperties(Attacker, Enqueued))
        {
            spoofed.Add(header);
        }

        await AssertNotChartedToTheVictimAsync(spoofed);
    }

    // Was a review finding: with the device's own "iothub-connection-device-id" application property after IoT Hub's annotation of the same
    // name (both reach a Kafka consumer as headers of one flat list), the later one silently wins: the device speaks for another.
    [Fact]
    public async Task GivenASpoofedDeviceIdAfterIotHubsOwn_WhenWritten_ThenTheVictimGetsNothing()
    {
        var spoofed = new Headers();
        foreach (var header in IotHubSystemProperties(Attacker, Enqueued))
        {
            spoofed.Add(header);
        }

        spoofed.Add("iothub-connection-device-id", EventHubEnvelopeTests.Str8(Victim));
        await AssertNotChartedToTheVictimAsync(spoofed);
    }

    // Was a review finding: a shadow run left on the default consumer group commits that group's offsets; the writer switched to Shadow=false
    // for the cut-over starts after everything the shadow saw, so the readings the shadow reported missing are never written (lost).
    [Fact]
    public async Task GivenAShadowRunOnTheWritersConsumerGroup_WhenCutOver_ThenTheWriterWritesEverythingTheShadowReportedMissing()
    {
        var messages = VitalSigns.Messages(devices: 2, perDevice: 3);
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            foreach (var m in messages)
            {
                await producer.ProduceAsync("devices", new Message<string, byte[]> { Key = m.DeviceId, Value = m.Json(), Timestamp = new Confluent.Kafka.Timestamp(m.Time.AddSeconds(1)) });
            }
        }

        var total = messages.Count * VitalSigns.ObservationsPerMessage;
        var reportPath = Path.Combine(folder, "shadow-report.json");
        using (var shadow = Writer(shadow: true, reportPath))
        {
            await shadow.StartAsync();
            await Eventually.HoldsAsync(() => Read(reportPath) is { } r && r.Missing >= total, TimeSpan.FromSeconds(60),
                () => File.Exists(reportPath) ? File.ReadAllText(reportPath) : "no report yet");
            await shadow.StopAsync();
        }

        // The cut-over as an operator does it: the same writer, Shadow off.
        var fhir = VitalSigns.Client(server.BaseUrl);
        using var writer = Writer(shadow: false, reportPath);
        await writer.StartAsync();
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == total, TimeSpan.FromSeconds(60),
            () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {total} Observations written after the cut-over");
        await writer.StopAsync();
    }

    /// <summary>What <see cref="DeviceMessages.EventHubEnvelope.MaxHeaders"/> lets through, minus the two spoofed headers themselves.</summary>
    private const int EventHubEnvelopeLimit = DeviceMessages.EventHubEnvelope.MaxHeaders - 2;

    /// <summary>
    /// Sends the spoofed event, then an honest one of the same device on the same partition (so the first was handled when
    /// the second is written), and asserts nothing was charted to the victim's Device.
    /// </summary>
    private async Task AssertNotChartedToTheVictimAsync(Headers spoofed)
    {
        var mapping = Path.Combine(folder, "iothub.device-mapping.json");
        await File.WriteAllTextAsync(mapping, CloudNormalizationTests.IotHubMapping);
        var honest = new Headers();
        foreach (var header in IotHubSystemProperties(Attacker, Enqueued.AddSeconds(1)))
        {
            honest.Add(header);
        }

        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
        {
            ["Hub:Topic"] = "devices",
            ["Writer:Input"] = "DeviceMessages",
            ["Writer:DeviceMappingPath"] = mapping,
            ["Writer:ConsumerGroup"] = "fhir-writer-review21",
            ["Writer:InHandPath"] = Path.Combine(folder, "inhand.json"),
        });
        await writer.StartAsync();
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("devices", new Message<string, byte[]> { Key = Attacker, Value = """{"heartRate":71,"patientId":"patient-a"}"""u8.ToArray(), Headers = spoofed, Timestamp = new Confluent.Kafka.Timestamp(Enqueued) });
            await producer.ProduceAsync("devices", new Message<string, byte[]> { Key = Attacker, Value = """{"heartRate":72,"patientId":"patient-a"}"""u8.ToArray(), Headers = honest, Timestamp = new Confluent.Kafka.Timestamp(Enqueued.AddSeconds(1)) });
        }

        var fhir = VitalSigns.Client(server.BaseUrl);
        var attacker = $"Device/{IdentityResolver.DeterministicIds(Attacker, "patient-a", null).DeviceId}";
        var victim = $"Device/{IdentityResolver.DeterministicIds(Victim, "patient-a", null).DeviceId}";
        var honestStart = Enqueued.AddSeconds(1).ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult()
            .Any(o => o.Device?.Reference == attacker && ((Period)o.Effective!).Start!.StartsWith(honestStart, StringComparison.Ordinal)), TimeSpan.FromSeconds(60));
        var written = await VitalSigns.ObservationsAsync(fhir);
        await writer.StopAsync();

        Assert.DoesNotContain(written, o => o.Device?.Reference == victim);
    }

    /// <summary>IoT Hub's annotations as a Kafka consumer of the routed Event Hub sees them (AMQP-encoded).</summary>
    private static IEnumerable<Header> IotHubSystemProperties(string deviceId, DateTime enqueued) =>
    [
        new("iothub-connection-device-id", EventHubEnvelopeTests.Str8(deviceId)),
        new("iothub-connection-auth-method", EventHubEnvelopeTests.Str8("""{"scope":"device","type":"sas","issuer":"iothub"}""")),
        new("iothub-enqueuedtime", EventHubEnvelopeTests.Timestamp(enqueued)),
        new("iothub-message-source", EventHubEnvelopeTests.Str8("Telemetry")),
    ];

    private IHost Writer(bool shadow, string reportPath) => TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
    {
        ["Hub:Topic"] = "devices",
        ["Writer:Input"] = "DeviceMessages",
        ["Writer:DeviceMappingPath"] = VitalSigns.DeviceMapping,
        ["Writer:InHandPath"] = Path.Combine(folder, "writer-inhand.json"),
        ["Writer:Shadow"] = shadow ? "true" : "false",
        ["Writer:ShadowReportPath"] = reportPath,
    });

    private static readonly JsonSerializerOptions ReportJson = new() { PropertyNameCaseInsensitive = true };

    private static ShadowRun.Report? Read(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<ShadowRun.Report>(File.ReadAllBytes(path), ReportJson) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
