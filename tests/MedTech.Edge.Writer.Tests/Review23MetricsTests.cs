using System.Diagnostics.Metrics;
using System.Net;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Review of issue 23 (metrics and alerts), failing on purpose. <c>consumer.lag</c> is set only in ConsumeBatch
/// (HubWriterWorker.UpdateLag), never while a batch is written; and while the FHIR server is down the writer stays in
/// that one write (MeasurementWriter retries for ever). So during a FHIR outage the lag gauge is frozen at what it was
/// before the outage (about 0 for a writer that kept up), and MedTechEdgeWriterLag ("FHIR is slow or down, or the
/// writer is stuck") cannot fire. Nor can the others: MedTechEdgeStale takes a quantile of rate() over a histogram
/// that records nothing (NaN), MedTechEdgeUnhealthy wants status &gt;= 2 and fhir is Degraded (1), and the gateway's
/// backlog is empty because the hub acknowledges. A FHIR outage of hours pages nobody. Real parts: gateway, embedded
/// broker, LiteDB, mock cluster, FHIR test server answering 503. Fix: update the lag while polling during a write
/// (WriteWhilePollingAsync already polls every 100 ms) or compute it at scrape from the high watermarks and the
/// committed offsets.
/// </summary>
[Collection(nameof(PipelineTracingTests))]
public sealed class Review23MetricsTests : WriterPipelineTest
{
    public Review23MetricsTests()
        : base("medtech-review23-lag-", ("measurements", 2))
    {
    }

    [Fact]
    public async Task Review23_WriterLag_GrowsWhileTheFhirServerIsDown()
    {
        await server.FailNextAsync(1_000_000, HttpStatusCode.ServiceUnavailable);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await gateway.StartAsync();
        await writer.StartAsync();
        var health = writer.Services.GetRequiredService<ModuleHealth>();

        // The first reading: the writer takes its batch and waits on the FHIR server with it.
        await VitalSigns.PublishAsync(mqttPort, VitalSigns.Messages(devices: 1, perDevice: 1));
        await Eventually.HoldsAsync(() => health.Snapshot().TryGetValue("fhir", out var fhir) && fhir.Status == HealthStatus.Degraded, TimeSpan.FromSeconds(60));

        // 30 more devices' readings reach the hub (one hub message each at least) while the writer waits.
        var before = HubMessages();
        await VitalSigns.PublishAsync(mqttPort, VitalSigns.Messages(devices: 30, perDevice: 1));
        await Eventually.HoldsAsync(() => HubMessages() >= before + 30, TimeSpan.FromSeconds(60), () => $"{HubMessages() - before} new hub messages");
        // A few of the writer's 100 ms polls, so that a lag kept up to date while writing would show them.
        await Task.Delay(TimeSpan.FromSeconds(1));

        var (lag, gauges) = Lag();
        await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
        await writer.StopAsync();
        await gateway.StopAsync();

        Assert.Equal(1, gauges);
        Assert.True(lag >= 30, $"consumer.lag reads {lag} while at least 30 hub messages wait behind a FHIR outage");
    }

    /// <summary>Messages on the hub topic (high watermarks of both partitions).</summary>
    private long HubMessages()
    {
        using var probe = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = "review23-probe" }).Build();
        return Enumerable.Range(0, 2).Sum(p => probe.QueryWatermarkOffsets(new TopicPartition("measurements", p), TimeSpan.FromSeconds(10)).High.Value);
    }

    /// <summary>The writer's consumer.lag gauge as an exporter reads it (these tests run alone: one writer in the process).</summary>
    private static (long Lag, int Gauges) Lag()
    {
        long lag = 0;
        var gauges = 0;
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
        listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            lag += value;
            gauges++;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return (lag, gauges);
    }
}
