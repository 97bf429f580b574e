using System.Diagnostics.Metrics;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>A worker survives any exception but a fatal producer error, and each one it survives is counted by worker.</summary>
public sealed class WorkerGuardTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-guard-").FullName;
    private readonly GatewayStore store;
    private readonly GatewayMetrics metrics;

    public WorkerGuardTests()
    {
        store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });
        metrics = new GatewayMetrics(store);
    }

    public void Dispose()
    {
        metrics.Dispose();
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenAStepThatThrows_WhenGuarded_ThenTheWorkerGetsTheFaultValueAndTheFaultIsCountedUnderItsWorker()
    {
        var faults = new List<long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "worker.faults")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        // Other tests' gateways share the meter's name: only this worker's faults count here.
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (tags.ToArray().Any(t => t is { Key: "worker", Value: "test-worker" }))
            {
                faults.Add(value);
            }
        });
        listener.Start();
        var guard = new WorkerGuard("test-worker", metrics, NullLogger.Instance);

        var result = await guard.RunAsync<int>(() => throw new InvalidDataException("a value no one foresaw"), -1, CancellationToken.None);
        var next = await guard.RunAsync(() => Task.FromResult(7), -1, CancellationToken.None);

        Assert.Equal((-1, 7), (result, next));
        Assert.Equal([1L], faults);
    }

    [Fact]
    public async Task GivenAFatalProducerError_WhenGuarded_ThenItStillEndsTheWorker()
    {
        var guard = new WorkerGuard("forwarding", metrics, NullLogger.Instance);

        await Assert.ThrowsAsync<HubFatalException>(() => guard.RunAsync<bool>(() => throw new HubFatalException("fatal"), false, CancellationToken.None));
    }
}
