using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Writer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// Writer throughput, cloud normalization beside the gateway path, in one run on this machine: the same bedside-monitor
/// messages (vital-signs mappings, six readings and five Observations each, one message per monitor per second) are
/// put on the mock Kafka cluster first, (a) as the gateway's measurement groups (normalized and grouped before the
/// clock starts, as the gateway would have) and (b) raw, as devices send them to the Event Hub MedTech reads; then a
/// writer (<c>Writer:Input</c> Groups, or DeviceMessages) starts on a fresh Medplum FHIR server, and the clock runs
/// until every Observation is created. The figure is measurements per second over that time. Each row once to warm
/// up (not a result), then each twice, alternating.
/// </summary>
internal static class CloudNormalizeBenchmark
{
    private const int Devices = 20;
    private static readonly DateTime Start = new(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc);

    public static async Task RunAsync(int messagesPerRow)
    {
        var perDevice = Math.Max(1, messagesPerRow / Devices);
        Console.WriteLine($"Cloud-normalize benchmark: {Devices * perDevice:N0} messages per row ({Devices} monitors × {perDevice} s, 6 readings, 5 Observations each), " +
                          $"vital-signs mappings, mock Kafka cluster (4 partitions), local Medplum FHIR server (fresh per row), .NET {Environment.Version}");
        Console.WriteLine($"{"row",-52} {"seconds",8} {"measurements",13} {"measurements/s",15} {"Observations/s",15}");
        await RowAsync("(warm-up, not a result) gateway groups", WriterInput.Groups, Devices, 10, 0);
        await RowAsync("(warm-up, not a result) device messages", WriterInput.DeviceMessages, Devices, 10, 0);
        for (var round = 1; round <= 2; round++)
        {
            await RowAsync($"(a) #{round} gateway groups (Writer:Input=Groups)", WriterInput.Groups, Devices, perDevice, round);
            await RowAsync($"(b) #{round} cloud normalize (Writer:Input=DeviceMessages)", WriterInput.DeviceMessages, Devices, perDevice, round);
        }
    }

    private static async Task RowAsync(string name, WriterInput input, int devices, int perDevice, int round)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-cloudnorm-bench-").FullName;
        try
        {
            await using var server = await FhirTestServer.StartAsync();
            using var cluster = new MockCluster();
            const string topic = "hub";
            cluster.CreateTopic(topic, 4);
            cluster.CreateTopic("fhir-writer-deadletter", 1);
            var normalizer = new Normalizer(DeviceMapping.Load(Mapping("device-mapping")).EnsureValid("bench"));
            var raw = Messages(devices, perDevice, Start.AddHours(round * 4));
            var measurements = raw.Sum(m => normalizer.Normalize(m.Message).Measurements.Count);
            var observations = raw.Count * 5;

            // Put on the hub before the clock starts: what the writer does is measured, not the producer.
            using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 }).Build())
            {
                foreach (var (key, value, time) in input == WriterInput.Groups ? Groups(raw, normalizer) : raw.Select(m => (m.Device, m.Message.Body.ToArray(), m.Message.IngestionTimeUtc)))
                {
                    producer.Produce(topic, new Message<string, byte[]> { Key = key, Value = value, Timestamp = new Timestamp(time) });
                }

                producer.Flush(TimeSpan.FromMinutes(1));
            }

            long created = 0;
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == WriterMetrics.MeterName && instrument.Name == "observations")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "outcome" && (string?)tag.Value == "created")
                    {
                        Interlocked.Add(ref created, value);
                    }
                }
            });
            listener.Start();

            using var writer = Writer(server.BaseUrl, cluster.BootstrapServers, topic, input, folder);
            var clock = Stopwatch.StartNew();
            await writer.StartAsync();
            for (var deadline = DateTime.UtcNow.AddMinutes(10); Interlocked.Read(ref created) < observations && DateTime.UtcNow < deadline;)
            {
                await Task.Delay(20);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            await writer.StopAsync();
            var done = Interlocked.Read(ref created);
            Console.WriteLine($"{name,-52} {seconds,8:N2} {measurements,13:N0} {measurements / seconds,15:N0} {done / seconds,15:N0}" +
                              (done < observations ? $"   INCOMPLETE: {done:N0} of {observations:N0} Observations" : ""));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed record RawMessage(string Device, DeviceMessage Message);

    private static List<RawMessage> Messages(int devices, int perDevice, DateTime start) =>
        Enumerable.Range(0, perDevice).SelectMany(s => Enumerable.Range(1, devices).Select(d =>
        {
            var time = start.AddSeconds(s);
            var json = string.Create(CultureInfo.InvariantCulture,
                $$"""{"deviceId":"monitor-{{d}}","patientId":"patient-{{d}}","timestamp":"{{time:yyyy-MM-ddTHH:mm:ssZ}}","heartRate":{{60 + (s % 40)}},"spo2":{{90 + (s % 10)}},"respiratoryRate":{{12 + (s % 8)}},"temperature":36.{{s % 10}},"systolic":{{110 + (s % 30)}},"diastolic":{{70 + (s % 20)}}}""");
            return new RawMessage($"monitor-{d}", new DeviceMessage(Encoding.UTF8.GetBytes(json), time.AddSeconds(1)));
        })).ToList();

    /// <summary>The gateway's hub messages for these device messages: normalized and grouped per round of 1,000 messages, as its normalization stage does.</summary>
    private static IEnumerable<(string Key, byte[] Value, DateTime Time)> Groups(List<RawMessage> raw, Normalizer normalizer) =>
        raw.Chunk(1000).SelectMany(round => MeasurementGrouper.Group(round.SelectMany(m => normalizer.Normalize(m.Message).Measurements))
            .Select(g => (g.Key.DeviceId, MeasurementGroupJson.Serialize(g), round[^1].Message.IngestionTimeUtc)));

    private static IHost Writer(Uri fhir, string bootstrap, string topic, WriterInput input, string folder)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Writer:FhirMappingPath"] = Mapping("fhir-mapping"),
            ["Writer:DeviceMappingPath"] = Mapping("device-mapping"),
            ["Writer:Input"] = input.ToString(),
            ["Writer:InHandPath"] = Path.Combine(folder, "inhand.json"),
            ["ResourceIdentity:ResourceIdentityServiceType"] = "Create",
            ["FhirServer:Url"] = fhir.AbsoluteUri,
            ["Hub:BootstrapServers"] = bootstrap,
            ["Hub:Topic"] = topic,
            ["Monitoring:Port"] = "0",
        });
        builder.AddFhirWriter();
        return builder.Build();
    }

    private static string Mapping(string kind) => Path.Combine(Repository.Root, "src", "MedTech.Edge.Cli", "Mappings", $"vital-signs.{kind}.json");
}
