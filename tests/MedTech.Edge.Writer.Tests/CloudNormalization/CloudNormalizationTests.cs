using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Hosting;
using Newtonsoft.Json.Linq;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// Cloud normalization through real parts: raw device messages on librdkafka's mock cluster (as on the Event Hub
/// MedTech reads), a writer with <c>Writer:Input=DeviceMessages</c>, and the Medplum-based FHIR server. The Observations
/// must be the ones the gateway path writes and the ones <c>medtech mapping test</c> predicts (ObservationPreview on
/// the same envelope), byte for byte in ids, identifiers and values.
/// </summary>
public sealed class CloudNormalizationTests : WriterPipelineTest
{
    private const string DeviceTopic = "devices";
    private static readonly DateTime Now = new(2026, 11, 24, 9, 0, 0, DateTimeKind.Utc);
    private readonly Func<long> unchanged;

    public CloudNormalizationTests()
        : base("medtech-cloudnorm-", (DeviceTopic, 4), ("measurements", 4))
    {
        unchanged = CountUnchangedObservations();
    }

    [Fact]
    public async Task GivenRawDeviceMessages_WhenTheCloudWriterNormalizesThem_ThenItWritesWhatMappingTestPredictsAndTheGatewayPathChangesNothing()
    {
        var messages = VitalSigns.Messages(devices: 3, perDevice: 10);
        using (var writer = CloudWriter(VitalSigns.DeviceMapping))
        {
            await writer.StartAsync();
            await ProduceAsync(messages.Select(m => (m.DeviceId, m.Json(), new Headers(), m.Time.AddSeconds(1))));
            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == expected, TimeSpan.FromSeconds(60),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            var written = await VitalSigns.ObservationsAsync(fhir);
            VitalSigns.AssertEachReadingOnce(messages, written);

            // medtech mapping test: the same envelopes (no properties), normalized and transformed offline.
            var predicted = Predict(VitalSigns.DeviceMapping, messages.Select(m => Envelope(m.Json(), [], [])));
            Assert.Equal(predicted.Keys.Order(), written.Select(o => o.Id!).Order());
            Assert.All(written, o => Assert.Equal(predicted[o.Id!], Fingerprint(o)));
            await writer.StopAsync();
        }

        // The gateway path, on the same readings: every Observation is found up to date, not one changes.
        var before = (await VitalSigns.ObservationsAsync(VitalSigns.Client(server.BaseUrl))).ToDictionary(o => o.Id!, o => o.Meta!.VersionId);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var groupsWriter = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await gateway.StartAsync();
        await groupsWriter.StartAsync();
        await VitalSigns.PublishAsync(mqttPort, messages);
        var all = messages.Count * VitalSigns.ObservationsPerMessage;
        await Eventually.HoldsAsync(() => unchanged() >= all, TimeSpan.FromSeconds(60), () => $"{unchanged()} of {all} Observations unchanged");
        var after = (await VitalSigns.ObservationsAsync(VitalSigns.Client(server.BaseUrl))).ToDictionary(o => o.Id!, o => o.Meta!.VersionId);
        Assert.Equal(before, after);
        await groupsWriter.StopAsync();
        await gateway.StopAsync();
    }

    [Fact]
    public async Task GivenIotHubRoutedEventsWithAmqpEncodedSystemProperties_WhenTheCloudWriterNormalizesThem_ThenDeviceIdAndTimeComeFromTheHeadersAsMappingTestPredicts()
    {
        var mapping = Path.Combine(folder, "iothub.device-mapping.json");
        await File.WriteAllTextAsync(mapping, IotHubMapping);
        var created = new DateTime(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);
        var enqueued = created.AddSeconds(2);

        // As IoT Hub routes them (AMQP-encoded headers): with the device's creation time; without it (the enqueued time is
        // used); from a Kafka producer (plain UTF-8 headers); without any system property (no device id: a dead letter).
        var events = new List<(string Key, byte[] Body, Headers Headers, DateTime Time)>
        {
            ("hub-monitor-1", """{"heartRate":71,"patientId":"patient-7"}"""u8.ToArray(), AmqpHeaders("hub-monitor-1", enqueued, created), enqueued),
            ("hub-monitor-1", """{"heartRate":72,"patientId":"patient-7"}"""u8.ToArray(), AmqpHeaders("hub-monitor-1", enqueued.AddSeconds(1), null), enqueued.AddSeconds(1)),
            ("hub-monitor-2", """{"heartRate":73,"patientId":"patient-8"}"""u8.ToArray(),
                new Headers { { "iothub-connection-device-id", "hub-monitor-2"u8.ToArray() }, { "iothub-creation-time-utc", "2026-11-24T08:30:04Z"u8.ToArray() } }, enqueued),
            ("hub-monitor-3", """{"heartRate":74,"patientId":"patient-9"}"""u8.ToArray(), new Headers(), enqueued),
        };
        using var writer = CloudWriter(mapping);
        await writer.StartAsync();
        await ProduceAsync(events);

        var deadLetter = Assert.Single(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", r => r.Count >= 1, TimeSpan.FromSeconds(60)));
        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= 3, TimeSpan.FromSeconds(60));
        var written = await VitalSigns.ObservationsAsync(fhir);

        // mapping test on the envelopes MedTech would have built from these events.
        var stamp = created.ToString("o", CultureInfo.InvariantCulture);
        JObject[] envelopes =
        [
            Envelope(events[0].Body, new() { ["iothub-creation-time-utc"] = stamp }, new() { ["iothub-connection-device-id"] = "hub-monitor-1", ["iothub-enqueuedtime"] = enqueued.ToString("o", CultureInfo.InvariantCulture) }),
            Envelope(events[1].Body, [], new() { ["iothub-connection-device-id"] = "hub-monitor-1", ["iothub-enqueuedtime"] = enqueued.AddSeconds(1).ToString("o", CultureInfo.InvariantCulture) }),
            Envelope(events[2].Body, new() { ["iothub-creation-time-utc"] = "2026-11-24T08:30:04Z" }, new() { ["iothub-connection-device-id"] = "hub-monitor-2" }),
        ];
        var predicted = Predict(mapping, envelopes);
        Assert.Equal(3, predicted.Count);
        Assert.Equal(predicted.Keys.Order(), written.Select(o => o.Id!).Order());
        Assert.All(written, o => Assert.Equal(predicted[o.Id!], Fingerprint(o)));
        Assert.Contains(written, o => ((Period)o.Effective!).Start!.StartsWith("2026-11-24T08:30:00", StringComparison.Ordinal));
        Assert.Contains(written, o => ((Period)o.Effective!).Start!.StartsWith("2026-11-24T08:30:03", StringComparison.Ordinal));

        // The event without a device id: dead-lettered with the normalizer's own reason code, as the gateway would.
        var expectedCode = new Normalizer(DeviceMapping.Load(mapping)).Normalize(Envelope(events[3].Body, [], []), enqueued).Errors[0].Code;
        Assert.Equal(expectedCode, Encoding.UTF8.GetString(deadLetter.Headers.GetLastBytes("reason-code")));
        Assert.Equal(events[3].Body, deadLetter.Value);
        await writer.StopAsync();
    }

    [Fact]
    public async Task GivenHostileDeviceMessagesOnOnePartition_WhenTheCloudWriterConsumesThem_ThenEachIsDeadLetteredWithItsHeadersAndTheGoodOnesAfterThemAreWritten()
    {
        var good = VitalSigns.Messages(devices: 1, perDevice: 3);
        byte[][] hostile =
        [
            """{"deviceId":"monitor-1","heartRate":7"""u8.ToArray().Concat(new byte[] { 0 }).Concat("""}"""u8.ToArray()).ToArray(), // a raw NUL
            Encoding.UTF8.GetBytes($$"""{"deviceId":"monitor-1","patientId":"{{new string('p', 900_000)}}","timestamp":"2026-11-24T08:00:00Z","heartRate":70}"""), // a megabyte-class id
            """[1,2,3]"""u8.ToArray(), // valid JSON, no template matches
            """{"deviceId":{"a":1},"patientId":"patient-1","timestamp":"2026-11-24T08:00:00Z","heartRate":70}"""u8.ToArray(), // wrong shape
            [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], // invalid UTF-8
            [], // empty
            """{"deviceId":"monitor-1","patientId":"patient-1","timestamp":"0001-01-01T00:00:00Z","heartRate":70}"""u8.ToArray(), // the end of DateTime
            """{"deviceId":"monitor-1","patientId":"patient-1","timestamp":"2026-11-24T08:00:00Z","heartRate":1e999}"""u8.ToArray(), // beyond double
        ];
        using var writer = CloudWriter(VitalSigns.DeviceMapping);
        await writer.StartAsync();

        // All on one key, so on one partition, before the good ones: none of them may hold it.
        await ProduceAsync(hostile.Select(b => ("monitor-1", b, new Headers { { "trace", "t-1"u8.ToArray() } }, Now))
            .Concat(good.Select(m => ("monitor-1", m.Json(), new Headers(), m.Time.AddSeconds(1)))));

        var deadLetters = HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", r => r.Count >= hostile.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(hostile.Length, deadLetters.Count);
        Assert.Equal(hostile.Select(Convert.ToHexString), deadLetters.Select(d => Convert.ToHexString(d.Value)));
        var normalizer = new Normalizer(DeviceMapping.Load(VitalSigns.DeviceMapping));
        foreach (var (body, deadLetter) in hostile.Zip(deadLetters))
        {
            var expected = normalizer.Normalize(new DeviceMessage(body, Now)).Errors[0].Code;
            Assert.Equal(expected, Encoding.UTF8.GetString(deadLetter.Headers.GetLastBytes("reason-code")));
            Assert.Equal("t-1"u8.ToArray(), deadLetter.Headers.GetLastBytes("trace"));
            Assert.InRange(deadLetter.Headers.GetLastBytes("reason").Length, 1, 4096 * 3);
        }

        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == good.Count * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
        VitalSigns.AssertEachReadingOnce(good, await VitalSigns.ObservationsAsync(fhir));
        await writer.StopAsync();
    }

    internal const string IotHubMapping = """
        {"templateType": "CollectionContent", "template": [
          {"templateType": "IotJsonPathContent", "template": {"typeName": "heartRate", "typeMatchExpression": "$..[?(@Body.heartRate)]",
            "patientIdExpression": "$.Body.patientId", "values": [{"valueName": "heartRate", "valueExpression": "$.Body.heartRate", "required": true}]}}
        ]}
        """;

    /// <summary>Headers as IoT Hub routing gives them to a Kafka consumer: AMQP-encoded values.</summary>
    private static Headers AmqpHeaders(string deviceId, DateTime enqueued, DateTime? created)
    {
        var headers = new Headers
        {
            { "iothub-connection-device-id", EventHubEnvelopeTests.Str8(deviceId) },
            { "iothub-connection-auth-method", EventHubEnvelopeTests.Str8("""{"scope":"device","type":"sas","issuer":"iothub"}""") },
            { "iothub-enqueuedtime", EventHubEnvelopeTests.Timestamp(enqueued) },
            { "iothub-message-source", EventHubEnvelopeTests.Str8("Telemetry") },
        };
        if (created is { } time)
        {
            headers.Add("iothub-creation-time-utc", EventHubEnvelopeTests.Str8(time.ToString("o", CultureInfo.InvariantCulture)));
        }

        return headers;
    }

    private IHost CloudWriter(string deviceMapping) => TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
    {
        ["Hub:Topic"] = DeviceTopic,
        ["Writer:Input"] = "DeviceMessages",
        ["Writer:DeviceMappingPath"] = deviceMapping,
        ["Writer:ConsumerGroup"] = "fhir-writer-cloud",
        ["Writer:InHandPath"] = Path.Combine(folder, "cloud-inhand.json"),
    });

    private async Task ProduceAsync(IEnumerable<(string Key, byte[] Body, Headers Headers, DateTime Time)> events)
    {
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        foreach (var (key, body, headers, time) in events)
        {
            await producer.ProduceAsync(DeviceTopic, new Message<string, byte[]> { Key = key, Value = body, Headers = headers, Timestamp = new Confluent.Kafka.Timestamp(time) });
        }
    }

    private static JObject Envelope(byte[] body, Dictionary<string, string> properties, Dictionary<string, string> system) =>
        MedTech.Edge.Mapping.Normalization.Envelope.Create(MedTech.Edge.Mapping.Normalization.Envelope.ParseBody(body), properties, system);

    /// <summary>What <c>medtech mapping test --fhir-mapping</c> shows for these envelopes: Observation id → fingerprint.</summary>
    private static Dictionary<string, string> Predict(string deviceMapping, IEnumerable<JObject> envelopes)
    {
        var normalizer = new Normalizer(DeviceMapping.Load(deviceMapping));
        var measurements = envelopes.SelectMany(e => normalizer.Normalize(e, null).Measurements).ToList();
        var (observations, errors) = ObservationPreview.Create(measurements, FhirMapping.Load(VitalSigns.FhirMapping), null, DateTimeOffset.UtcNow);
        Assert.Empty(errors);
        return observations.ToDictionary(o => o.Id!, Fingerprint);
    }

    /// <summary>Id, identifiers, subject, device, code, time and values: what must not differ between two paths.</summary>
    private static string Fingerprint(Observation o)
    {
        static string Value(DataType? value) => value switch
        {
            Quantity q => string.Create(CultureInfo.InvariantCulture, $"{q.Value:0.########}|{q.Unit}|{q.System}|{q.Code}"),
            null => "",
            _ => value.GetType().Name,
        };

        var period = (Period)o.Effective!;
        return string.Join(" ", o.Id, string.Join(",", o.Identifier.Select(i => $"{i.System}|{i.Value}")), o.Subject?.Reference, o.Device?.Reference,
            string.Join(",", o.Code.Coding.Select(c => $"{c.System}|{c.Code}")), period.Start, period.End, Value(o.Value),
            string.Join(",", o.Component.Select(c => $"{c.Code.Coding[0].Code}={Value(c.Value)}")));
    }
}
