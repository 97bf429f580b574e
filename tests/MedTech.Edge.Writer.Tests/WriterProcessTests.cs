namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Two FHIR writer module processes in one consumer group share the hub's partitions; one is killed with SIGKILL
/// while data flows. Its uncommitted batches go to the other: nothing is lost, and nothing is in FHIR twice.
/// </summary>
public sealed class WriterProcessTests : WriterPipelineTest
{
    public WriterProcessTests()
        : base("medtech-writers-", ("measurements", 4))
    {
    }

    [Fact]
    public async Task GivenTwoWritersInOneGroup_WhenOneIsKilledMidStream_ThenEveryReadingIsInExactlyOneObservation()
    {
        var messages = VitalSigns.Messages(devices: 8, perDevice: 20);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        await gateway.StartAsync();
        using var doomed = StartWriter();
        using var survivor = StartWriter();
        var fhir = VitalSigns.Client(server.BaseUrl);
        try
        {
            // The first half, until both writers have written; then the kill, and the second half.
            await VitalSigns.PublishAsync(mqttPort, messages.Where(m => m.Time.Second < 10));
            await Eventually.HoldsAsync(() => Persisted(doomed) && Persisted(survivor), TimeSpan.FromSeconds(60), () => "both writers to persist a batch");
            await doomed.KillAsync();
            await VitalSigns.PublishAsync(mqttPort, messages.Where(m => m.Time.Second >= 10));

            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(120),
                () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} of {expected} Observations");
            VitalSigns.AssertEachReadingOnce(messages, await VitalSigns.ObservationsAsync(fhir));
        }
        finally
        {
            await survivor.KillAsync();
            await gateway.StopAsync();
        }
    }

    private ModuleProcess StartWriter()
    {
        var environment = TestHosts.WriterSettings(server.BaseUrl);
        environment["FhirServer__Authentication"] = "None";
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "measurements";
        environment["Hub__ConsumerSessionTimeout"] = "00:00:06";
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
