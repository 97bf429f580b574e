using System.Runtime.InteropServices;
using Confluent.Kafka;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// Second review of issue 23 (writer dead-letter health), failing on purpose. HubWriterWorker.DeadLetterAsync retries
/// a dead letter for ever, holding its batch uncommitted (nothing more is written). A permanent error
/// (HubErrors.IsPermanent: MsgSizeTooLarge, ...) first drops the payload and envelope; if the dead-letter topic still
/// refuses the bare dead letter (its max.message.bytes set below a few kB, a policy's limit) the same permanent error
/// falls to the general catch, and HubErrors.NeedsOperator does not list it: the hub check says Degraded "dead letters
/// cannot be sent yet", "working as designed", while the writer is stalled for good until an operator changes the
/// topic. The broker's answer is injected with librdkafka's mock request errors (MsgSizeTooLarge on every Produce).
/// Fix: treat IsPermanent codes with nothing left to omit as NeedsOperator (unhealthy).
/// </summary>
public sealed class Review23bDeadLetterTooLargeTests : WriterPipelineTest
{
    public Review23bDeadLetterTooLargeTests()
        : base("medtech-review23b-dltoolarge-", ("measurements", 1))
    {
    }

    [Fact]
    public async Task Review23b_DeadLetterRefusedAsTooLargeEvenWithoutPayload_IsUnhealthyNotDegraded()
    {
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = """{"id":"g","measurements":[null]}"""u8.ToArray() });
        }

        // Every Produce from here on (only the writer's dead-letter producer produces) is refused as too large.
        PushProduceErrors(ErrorCode.MsgSizeTooLarge, 10_000);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await writer.StartAsync();
        var health = writer.Services.GetRequiredService<ModuleHealth>();
        string Describe() => string.Join("; ", health.Snapshot().Select(c => $"{c.Key}: {c.Value.Status} {c.Value.Reason}"));

        // The dead letter was tried with its payload, then without, and is being retried: the writer is stalled.
        await Eventually.HoldsAsync(() => health.Snapshot().TryGetValue("hub", out var hub) && hub.Status != HealthStatus.Healthy
            && hub.Reason.Contains(nameof(ErrorCode.MsgSizeTooLarge), StringComparison.Ordinal), TimeSpan.FromSeconds(60), Describe);
        var stalled = health.Snapshot()["hub"];
        await writer.StopAsync();

        Assert.True(stalled.Status == HealthStatus.Unhealthy, $"a dead letter the topic refuses even without its payload holds the writer for good, yet hub health is {stalled.Status}: {stalled.Reason}");
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int PushRequestErrorsArray(IntPtr mockCluster, short apiKey, UIntPtr count, int[] errors);

    /// <summary>rd_kafka_mock_push_request_errors_array on this test's mock cluster, for ApiKey Produce (0).</summary>
    private void PushProduceErrors(ErrorCode code, int count)
    {
        Confluent.Kafka.Library.Load();
        var path = File.ReadAllLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .First(file => file.EndsWith("librdkafka.so", StringComparison.Ordinal) && File.Exists(file));
        var push = Marshal.GetDelegateForFunctionPointer<PushRequestErrorsArray>(NativeLibrary.GetExport(NativeLibrary.Load(path), "rd_kafka_mock_push_request_errors_array"));
        var mc = (IntPtr)typeof(MockCluster).GetField("mc", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(cluster)!;
        Assert.Equal(0, push(mc, 0, (UIntPtr)count, Enumerable.Repeat((int)code, count).ToArray()));
    }
}
