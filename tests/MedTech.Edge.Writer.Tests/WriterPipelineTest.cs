using System.Diagnostics.Metrics;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The real parts the writer's pipeline tests run against, one set per test: a temporary folder, a Kafka mock cluster
/// with the given topics and the writer's dead-letter topic, a free MQTT port for a gateway, and a FHIR test server.
/// </summary>
public abstract class WriterPipelineTest : IAsyncLifetime, IDisposable
{
    private readonly List<IDisposable> owned = [];

    protected WriterPipelineTest(string folderPrefix, params (string Topic, int Partitions)[] topics)
    {
        folder = Directory.CreateTempSubdirectory(folderPrefix).FullName;
        foreach (var (topic, partitions) in topics)
        {
            cluster.CreateTopic(topic, partitions);
        }

        cluster.CreateTopic("fhir-writer-deadletter", 1);
    }

#pragma warning disable SA1401, CA1051 // test fixtures: the tests read these as the fields they were before
    protected readonly string folder;
    protected readonly MockCluster cluster = new();
    protected readonly int mqttPort = Ports.Free();
    protected FhirTestServer server = null!;
#pragma warning restore SA1401, CA1051

    public async Task InitializeAsync() => server = await FhirTestServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    /// <summary>Disposed with the test, before the cluster and the folder.</summary>
    protected void Own(IDisposable disposable) => owned.Add(disposable);

    public void Dispose()
    {
        owned.ForEach(o => o.Dispose());
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Publishes <paramref name="messages"/> to a gateway on this test's parts, waits until a writer has charted every
    /// Observation on the FHIR server, and stops both, so every span has ended and been exported.
    /// </summary>
    protected async Task ChartThroughGatewayAndWriterAsync(IReadOnlyList<VitalSigns.Message> messages)
    {
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await gateway.StartAsync();
        await writer.StartAsync();
        await VitalSigns.PublishAsync(mqttPort, messages);
        var fhir = VitalSigns.Client(server.BaseUrl);
        await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == messages.Count * VitalSigns.ObservationsPerMessage,
            TimeSpan.FromSeconds(60), () => $"{VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count} Observations");
        await writer.StopAsync();
        await gateway.StopAsync();
    }

    /// <summary>
    /// Counts, from now to the end of the test, the Observations every writer in this process found already up to date
    /// (what a re-delivery gives, and nothing else should).
    /// </summary>
    protected Func<long> CountUnchangedObservations()
    {
        long unchanged = 0;
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "observations")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "outcome" && (string?)tag.Value == "unchanged")
                {
                    Interlocked.Add(ref unchanged, value);
                }
            }
        });
        listener.Start();
        owned.Add(listener);
        return () => Interlocked.Read(ref unchanged);
    }
}
