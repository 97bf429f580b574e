using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using MedTech.Edge.Standalone.LocalStore;
using MedTech.Edge.Writer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Standalone.Tests;

/// <summary>
/// The in-process writer of <c>medtech run</c> on a real gateway LiteDB file and the local FHIR store: a group whose
/// write throws is dead-lettered alone, and a group found in hand alone after a death (it killed the process twice)
/// is quarantined as Poison without being written, while the rest of its batch is written.
/// </summary>
public sealed class OutboxWriterContainmentTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-outboxwriter-").FullName;
    private GatewayStore store;

    public OutboxWriterContainmentTests() => store = Open();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenAGroupInHandAloneWhenTheProcessDied_WhenTheWriterStartsAgain_ThenItIsPoisonAndTheRestOfItsBatchIsWritten()
    {
        var entries = NormalizeThreeMonitors();
        var batch = Assert.Single(entries.Select(e => e.Id).Distinct());
        store.SetInHand(GatewayStore.WriterInHand, new InHand(batch, batch, 1, batch, Entry: 1));
        store.Dispose();
        store = Open();

        var observations = await RunWriterUntilDrainedAsync();

        var poison = Assert.Single(store.ListGroupDeadLetters());
        Assert.Empty(store.ListDeadLetters());
        Assert.Equal((ErrorCodes.Poison, entries[1].Key), (poison.Code, poison.Key));
        Assert.Equal(entries[1].Payload.ToArray(), poison.Payload.ToArray());
        // One message per monitor: each group is one Observation.
        Assert.Equal(entries.Count - 1, observations);
        Assert.Null(store.ReadInHand(GatewayStore.WriterInHand));
    }

    [Fact]
    public async Task GivenAGroupWhoseWriteThrows_WhenTheWriterTakesItsBatch_ThenItAloneIsDeadLetteredAndTheOthersAreWritten()
    {
        var good = NormalizeThreeMonitors();
        // Valid JSON of the wrong shape: a null where a property belongs.
        var bad = Encoding.UTF8.GetBytes("""
            {"id":"bad","measurements":[{"Type":"heartrate","OccurrenceTimeUtc":"2026-11-24T08:00:00Z","IngestionTimeUtc":null,
             "DeviceId":"monitor-9","PatientId":"patient-9","EncounterId":null,"CorrelationId":null,"Properties":[null]}]}
            """);
        store.CompleteNormalization([], [new OutboxEntry("monitor-9", bad, DateTime.UtcNow)], []);

        var observations = await RunWriterUntilDrainedAsync();

        var deadLetter = Assert.Single(store.ListGroupDeadLetters());
        Assert.Empty(store.ListDeadLetters());
        // ProcessingError while the writer lets the NullReferenceException out; InvalidHubMessage once it checks the shape.
        Assert.Contains(deadLetter.Code, new[] { ErrorCodes.ProcessingError, WriterErrorCodes.InvalidHubMessage });
        Assert.Equal(bad, deadLetter.Payload.ToArray());
        Assert.Equal(good.Count, observations);
        Assert.Null(store.ReadInHand(GatewayStore.WriterInHand));
    }

    /// <summary>Three monitors' readings through the real Normalize stage: one outbox batch of their groups.</summary>
    private List<OutboxEntry> NormalizeThreeMonitors()
    {
        store.Append(VitalSigns.Messages(3, 1).Select(m => new InboxMessage(m.DeviceId, $"devices/{m.DeviceId}/vitals", m.Json(), DateTime.UtcNow,
            new Dictionary<string, string>())).ToList());
        var normalizer = new Normalizer(DeviceMapping.Load(VitalSigns.DeviceMapping).EnsureValid("vital signs"));
        new NormalizationStage(store, new DeviceMappingSource(normalizer), NullLogger<NormalizationStage>.Instance).RunOnce(100);
        var entries = store.ReadOutbox(1000).ToList();
        Assert.Equal(3 * VitalSigns.ObservationsPerMessage, entries.Count);
        return entries;
    }

    /// <summary>Runs the writer as <c>medtech run</c> wires it until the outbox is empty; returns the Observations stored.</summary>
    private async Task<int> RunWriterUntilDrainedAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Writer:FhirMappingPath"] = VitalSigns.FhirMapping,
            ["ResourceIdentity:ResourceIdentityServiceType"] = "Create",
            ["Monitoring:Port"] = "0",
        });
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton<IOutbox>(store);
        builder.AddOutboxWriter(Path.Combine(folder, "fhir.db"));
        using var host = builder.Build();
        await host.StartAsync();
        await Eventually.HoldsAsync(() => store.Stats().Outbox == 0, TimeSpan.FromSeconds(60));
        await host.StopAsync();
        return host.Services.GetRequiredService<LocalFhirStore>().Count("Observation");
    }

    private GatewayStore Open() => new(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });
}
