using System.Diagnostics.Metrics;
using System.Net;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The writer's <c>consumer.lag</c> counts hub messages not yet written, the batch in hand included, and is kept
/// current while one write waits on the FHIR server (its partitions are paused then, so the consumer's cached
/// watermarks stand still): it reaches every message on the hub during an outage and falls back to 0 once the
/// outage ends and the writer has caught up. Real parts: gateway, embedded broker, LiteDB, mock cluster, FHIR test server.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class WriterLagTests : WriterPipelineTest
{
    public WriterLagTests()
        : base("medtech-writer-lag-", ("measurements", 2))
    {
    }

    [Fact]
    public async Task GivenAFhirOutage_WhenReadingsArrive_ThenTheLagCountsEveryUnwrittenHubMessageAndFallsToZeroAfterwards()
    {
        await server.FailNextAsync(1_000_000, HttpStatusCode.ServiceUnavailable);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await gateway.StartAsync();
        await writer.StartAsync();
        var health = writer.Services.GetRequiredService<ModuleHealth>();

        await VitalSigns.PublishAsync(mqttPort, VitalSigns.Messages(devices: 5, perDevice: 1));
        await Eventually.HoldsAsync(() => health.Snapshot().TryGetValue("fhir", out var fhir) && fhir.Status == HealthStatus.Degraded, TimeSpan.FromSeconds(60));
        await VitalSigns.PublishAsync(mqttPort, VitalSigns.Messages(devices: 15, perDevice: 1).Skip(5));

        // Nothing is written, nothing committed: the lag is the whole topic, the batch the writer holds included.
        await Eventually.HoldsAsync(() => HubMessages() >= 15 && Lag() == HubMessages(), TimeSpan.FromSeconds(60), () => $"lag {Lag()}, hub messages {HubMessages()}");

        await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
        var fhirClient = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhirClient).GetAwaiter().GetResult().Count == 15 * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
        await Eventually.HoldsAsync(() => Lag() == 0, TimeSpan.FromSeconds(30), () => $"lag {Lag()} after the outage");
        await writer.StopAsync();
        await gateway.StopAsync();
    }

    /// <summary>Messages on the hub topic (high watermarks of both partitions).</summary>
    private long HubMessages()
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "writer-lag-probe" }).Build();
        return Enumerable.Range(0, 2).Sum(p => probe.QueryWatermarkOffsets(new TopicPartition("measurements", p), TimeSpan.FromSeconds(10)).High.Value);
    }

    /// <summary>The writer's consumer.lag gauge as an exporter reads it (one writer in the process: the collection runs alone).</summary>
    private static long Lag()
    {
        long lag = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == WriterMetrics.MeterName && instrument.Name == "consumer.lag")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => lag += value);
        listener.Start();
        listener.RecordObservableInstruments();
        return lag;
    }
}
