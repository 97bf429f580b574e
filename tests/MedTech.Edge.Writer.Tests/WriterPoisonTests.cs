using System.Text;
using Confluent.Kafka;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// No crash loop in the cloud writer: a hub message that kills the writer process whenever it is handled (here: the
/// writer hangs on it and is killed with SIGKILL, twice, as a native fault or an out-of-memory would end it) is
/// retried once alone and then quarantined to the dead-letter topic, and the readings of the other devices are
/// written.
/// </summary>
public sealed class WriterPoisonTests : WriterPipelineTest
{
    private const string PoisonDevice = "monitor-poison";

    public WriterPoisonTests()
        : base("medtech-poison-", ("measurements", 1))
    {
    }

    [Fact]
    public async Task GivenAMessageThatKillsTheWriter_WhenItIsKilledTwice_ThenTheThirdStartQuarantinesItAndWritesTheRest()
    {
        var good = VitalSigns.Messages(devices: 2, perDevice: 3);
        var poison = VitalSigns.Messages(devices: 1, perDevice: 1).Select(m => m with { DeviceId = PoisonDevice }).ToList();
        using var proxy = new StallingProxy(server.BaseUrl, PoisonDevice);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        await gateway.StartAsync();
        try
        {
            await VitalSigns.PublishAsync(mqttPort, [.. good.Take(3), .. poison, .. good.Skip(3)]);

            // First death: the batch holding the poison message is in hand.
            using (var first = StartWriter(proxy.BaseUrl))
            {
                await Eventually.HoldsAsync(() => proxy.Stalled >= 1, TimeSpan.FromSeconds(60), () => "the writer to hang on the poison message");
                await first.KillAsync();
            }

            // Second death: each message of that batch once more, alone; the poison one hangs again.
            using (var second = StartWriter(proxy.BaseUrl))
            {
                await Eventually.HoldsAsync(() => proxy.Stalled >= 2, TimeSpan.FromSeconds(60), () => "the writer to hang on the poison message alone");
                await second.KillAsync();
                Assert.Contains(second.Output, line => line.Contains("died with hub messages in hand", StringComparison.Ordinal));
            }

            // Third start: the poison message is quarantined without being handled; everything else is in FHIR.
            using var third = StartWriter(proxy.BaseUrl);
            var deadLetters = HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", r => r.Count >= 1, TimeSpan.FromSeconds(60));
            var quarantined = Assert.Single(deadLetters);
            Assert.Equal("Poison", Encoding.UTF8.GetString(quarantined.Headers.GetLastBytes("reason-code")));
            Assert.Contains(PoisonDevice, Encoding.UTF8.GetString(quarantined.Value), StringComparison.Ordinal);

            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = good.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(60),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            VitalSigns.AssertEachReadingOnce(good, await VitalSigns.ObservationsAsync(fhir));
            Assert.Equal(2, proxy.Stalled);
            Assert.False(third.Process.HasExited, string.Join("\n", third.Output));
            await third.KillAsync();
        }
        finally
        {
            await gateway.StopAsync();
        }
    }

    private ModuleProcess StartWriter(Uri fhirUrl)
    {
        var environment = TestHosts.WriterSettings(fhirUrl);
        environment["FhirServer__Authentication"] = "None";
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "measurements";
        environment["Hub__ConsumerSessionTimeout"] = "00:00:06";
        environment["Writer__InHandPath"] = Path.Combine(folder, "writer-inhand.json");
        environment["Monitoring__Port"] = "0";
        environment["Logging__LogLevel__Default"] = "Warning";
        return new ModuleProcess("FhirWriter", "MedTech.Edge.Modules.FhirWriter.dll", folder, environment);
    }
}
