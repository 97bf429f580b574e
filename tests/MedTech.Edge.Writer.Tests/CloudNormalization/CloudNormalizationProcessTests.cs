using Confluent.Kafka;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// Two FHIR writer module processes on raw device messages (<c>Writer:Input=DeviceMessages</c>) in one consumer group;
/// one is killed with SIGKILL while messages flow. What it had consumed and not committed goes to the other, which
/// normalizes it again: nothing is lost, and nothing is in FHIR twice.
/// </summary>
public sealed class CloudNormalizationProcessTests : WriterPipelineTest
{
    public CloudNormalizationProcessTests()
        : base("medtech-cloudnorm-proc-", ("devices", 4))
    {
    }

    [Fact]
    public async Task GivenTwoCloudWritersInOneGroup_WhenOneIsKilledMidStream_ThenEveryReadingIsInExactlyOneObservation()
    {
        var messages = VitalSigns.Messages(devices: 8, perDevice: 20);
        using var doomed = StartWriter();
        using var survivor = StartWriter();
        var fhir = VitalSigns.Client(server.BaseUrl);
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        async Task ProduceAsync(IEnumerable<VitalSigns.Message> part)
        {
            foreach (var m in part)
            {
                // Two devices on each partition, whatever the partitioner makes of their keys: both writers get data.
                var partition = new Partition((int.Parse(m.DeviceId["monitor-".Length..], System.Globalization.CultureInfo.InvariantCulture) - 1) % 4);
                await producer.ProduceAsync(new TopicPartition("devices", partition),
                    new Message<string, byte[]> { Key = m.DeviceId, Value = m.Json(), Timestamp = new Timestamp(m.Time.AddSeconds(1)) });
            }
        }

        try
        {
            // A second of data at a time, paced, so that both writers have joined the group and written before the
            // kill, which comes as soon as they have; the rest follows while the survivor takes over.
            var killedAt = -1;
            foreach (var second in messages.GroupBy(m => m.Time).OrderBy(g => g.Key).Select((g, i) => (Messages: g, Index: i)))
            {
                if (killedAt < 0 && Persisted(doomed) && Persisted(survivor))
                {
                    await doomed.KillAsync();
                    killedAt = second.Index;
                }

                await ProduceAsync(second.Messages);
                await Task.Delay(killedAt < 0 ? 3000 : 50);
            }

            Assert.True(killedAt is >= 1 and <= 17, $"killed at {killedAt}; doomed: {string.Join("\n", doomed.Output.TakeLast(40))}\nsurvivor: {string.Join("\n", survivor.Output.TakeLast(40))}");
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(120),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));
            Assert.Empty(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", _ => false, TimeSpan.FromSeconds(2)));
        }
        finally
        {
            await survivor.KillAsync();
        }
    }

    private ModuleProcess StartWriter()
    {
        var environment = TestHosts.WriterSettings(server.BaseUrl);
        environment["FhirServer__Authentication"] = "None";
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "devices";
        environment["Hub__ConsumerSessionTimeout"] = "00:00:06";
        environment["Writer__Input"] = "DeviceMessages";
        environment["Writer__DeviceMappingPath"] = VitalSigns.DeviceMapping;
        environment["Writer__InHandPath"] = Path.Combine(folder, $"writer-inhand-{Guid.NewGuid():N}.json");
        environment["Monitoring__Port"] = "0";
        environment["Logging__LogLevel__Default"] = "Warning";
        environment["Logging__LogLevel__MedTech.Edge.Persist.ObservationPersister"] = "Information";
        return new ModuleProcess("FhirWriter", "MedTech.Edge.Modules.FhirWriter.dll", folder, environment);
    }

    private static bool Persisted(ModuleProcess writer)
    {
        Assert.False(writer.Process.HasExited, "a writer exited: " + string.Join("\n", writer.Output));
        return writer.Output.Any(line => line.Contains("Persisted", StringComparison.Ordinal));
    }
}
