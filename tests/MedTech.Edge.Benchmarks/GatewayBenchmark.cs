using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Confluent.Kafka;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Hub;
using MedTech.Edge.Mqtt;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace MedTech.Edge.Benchmarks;

/// <summary>
/// Gateway figures in one run: (a) MQTT QoS 1 publish → subscribe through MQTTnet.Server with nothing stored;
/// (b) publish → committed in LiteDB (forced to disk) → acknowledged, through the gateway's broker; (c) draining an
/// outbox backlog to librdkafka's mock cluster, as shipped (a device's entries of a round packed into one hub message)
/// and with packing off, beside the raw producer rate on the same cluster (three times, with the medians), and the
/// gateway's peak memory meanwhile. A ward: 50 device connections, each keeping up to 20 QoS 1 messages in flight (MQTTnet handles one
/// connection's publishes one after another, so a single connection cannot share a commit); 269-byte vitals JSON.
/// </summary>
internal static class GatewayBenchmark
{
    internal const int Devices = 50;
    private const int Window = 20;
    private const int DrainDevices = 200;

    /// <summary>A 269-byte vitals message of the bundled vital-signs mapping.</summary>
    internal static readonly byte[] Payload = Encoding.UTF8.GetBytes("{\"deviceId\":\"monitor-12\",\"patientId\":\"bed-4\",\"heartRate\":72,\"spo2\":98,\"systolic\":120,\"diastolic\":80,\"respiratoryRate\":16,\"temperature\":36.9,\"timestamp\":\"2026-11-24T08:00:00.000Z\",\"battery\":87,\"signalQuality\":\"good\",\"firmware\":\"4.2.1\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxx\"}");

    public static async Task RunAsync(int messages, int backlog)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-bench-").FullName;
        try
        {
            var payload = Payload;
            Console.WriteLine($"Gateway benchmark: {messages:N0} QoS 1 messages of {payload.Length} bytes from {Devices} connections, {Window} in flight each; backlog {backlog:N0}; .NET {Environment.Version}");
            var baseline = await PlainBrokerAsync(messages, payload);
            Console.WriteLine($"(a) MQTT QoS 1 publish -> subscribe, nothing stored           {baseline,10:N0} msg/s");
            var gateway = await GatewayIngestAsync(messages, payload, folder, forceToDisk: true);
            Console.WriteLine($"(b) gateway: publish -> committed, forced to disk -> acked    {gateway,10:N0} msg/s   ({gateway / baseline:P0} of (a))");
            var unforced = await GatewayIngestAsync(messages, payload, folder, forceToDisk: false);
            Console.WriteLine($"(b') as (b) with ForceToDisk=false (survives a kill only)     {unforced,10:N0} msg/s   ({unforced / baseline:P0} of (a))");
            var (runs, peakMb) = await DrainAsync(backlog, payload, folder);
            foreach (var (run, i) in runs.Select((r, i) => (r, i + 1)))
            {
                Console.WriteLine($"(c) #{i} outbox backlog drained to the mock Kafka cluster       {run.Drain,10:N0} entries/s ({run.Drain / run.Raw:P0} of the raw producer's {run.Raw:N0} msg/s) " +
                                  $"in {run.HubMessages:N0} hub messages ({run.Drain / run.RawPacked:P0} of the raw producer sending those, {run.RawPacked:N0} entries/s); purge afterwards {run.PurgeSeconds:N1} s");
                Console.WriteLine($"       with PackUpToBytes=0 (a hub message per entry)            {run.Unpacked,10:N0} entries/s ({run.Unpacked / run.Raw:P0} of the raw producer; " +
                                  $"{run.Unpacked / run.RawWithReports:P0} of its {run.RawWithReports:N0} msg/s with a delivery report per message)");
            }

            var median = runs.OrderBy(r => r.Drain / r.Raw).ElementAt(runs.Count / 2);
            var medianUnpacked = runs.OrderBy(r => r.Unpacked / r.Raw).ElementAt(runs.Count / 2);
            Console.WriteLine($"(c) median of the {runs.Count}: {median.Drain:N0} entries/s = {median.Drain / median.Raw:P0} of the raw producer beside it " +
                              $"(PackUpToBytes=0: {medianUnpacked.Unpacked:N0} = {medianUnpacked.Unpacked / medianUnpacked.Raw:P0})");
            Console.WriteLine($"    peak working set of the gateway (the cluster runs in a process of its own) filling, draining and purging a backlog: {peakMb:N0} MB");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<double> PlainBrokerAsync(int messages, byte[] payload)
    {
        var port = Ports.Free();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerFactory().CreateServerOptionsBuilder().WithDefaultEndpoint()
            .WithDefaultEndpointPort(port).WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithMaxPendingMessagesPerClient(messages * 2).Build());
        await server.StartAsync();
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        var received = 0;
        var done = new TaskCompletionSource();
        subscriber.ApplicationMessageReceivedAsync += _ =>
        {
            if (Interlocked.Increment(ref received) == messages / Devices * Devices)
            {
                done.TrySetResult();
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(Client(port, "bench-sub"));
        await subscriber.SubscribeAsync(new MqttClientFactory().CreateSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic("devices/#").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
        var clock = Stopwatch.StartNew();
        await PublishAsync(port, messages, payload);
        await done.Task.WaitAsync(TimeSpan.FromMinutes(5));
        var rate = messages / Devices * Devices / clock.Elapsed.TotalSeconds;
        await server.StopAsync();
        return rate;
    }

    /// <summary>(b): publish → committed → acknowledged, through the inbox as the module wires it (<see cref="TracedInbox"/>); msg/s.</summary>
    internal static async Task<double> GatewayIngestAsync(int messages, byte[] payload, string folder, bool forceToDisk)
    {
        var port = Ports.Free();
        var options = new BufferOptions { Path = Path.Combine(folder, $"ingest-{forceToDisk}.db"), MaxMessages = messages * 2L, ForceToDisk = forceToDisk };
        using var store = new GatewayStore(options);
        var inbox = new InboxWriter(store, options);
        using var stop = new CancellationTokenSource();
        var commits = inbox.RunAsync(stop.Token);
        using var metrics = new IngestMetrics();
        await using (var broker = new EmbeddedBroker(new MqttIngestOptions { Port = port, AllowAnonymous = true }, new TracedInbox(inbox), metrics, NullLogger<EmbeddedBroker>.Instance))
        {
            await broker.StartAsync();
            var clock = Stopwatch.StartNew();
            await PublishAsync(port, messages, payload);
            var rate = messages / Devices * Devices / clock.Elapsed.TotalSeconds;
            await stop.CancelAsync();
            await commits;
            return store.Stats().Inbox == messages / Devices * Devices ? rate : throw new InvalidOperationException($"{store.Stats().Inbox} stored of {messages}");
        }
    }

    /// <summary>
    /// One repetition of (c), rates in outbox entries (or raw messages) per second: the drain as shipped (a device's
    /// groups of a round packed into one hub message), the hub messages it sent, the drain with packing off
    /// (<see cref="HubOptions.PackUpToBytes"/> 0: a message per entry), the raw producer without and with delivery
    /// reports, the raw producer sending the packed drain's messages, and the time to purge the delivered backlog.
    /// </summary>
    private sealed record DrainFigures(double Drain, long HubMessages, double Unpacked, double Raw, double RawWithReports, double RawPacked, double PurgeSeconds);

    /// <summary>
    /// (c) three times over, each on fresh 1,000,000-entry backlogs with the raw producer right after them: the raw rate
    /// on this machine moves by ±15 % between runs, so each drain is set beside the raw rate measured next to it.
    /// </summary>
    private static async Task<(List<DrainFigures> Runs, double PeakMb)> DrainAsync(int backlog, byte[] payload, string folder)
    {
        using var cluster = MockClusterProcess.Start("measurements", "raw");
        var hub = new HubOptions { BootstrapServers = cluster.BootstrapServers, Topic = "measurements", ForwardBatchSize = 5000 };
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "drain.db"), MaxMessages = backlog * 2L, ForceToDisk = false });
        using var producer = HubClients.CreateProducer(hub, NullLogger.Instance);
        var packed = new OutboxForwarder(store, producer, hub, NullLogger<OutboxForwarder>.Instance);
        var unpacked = new OutboxForwarder(store, producer, new HubOptions { BootstrapServers = hub.BootstrapServers, Topic = hub.Topic, ForwardBatchSize = hub.ForwardBatchSize, PackUpToBytes = 0 },
            NullLogger<OutboxForwarder>.Instance);

        // Every path runs first on backlogs of its own, so no figure includes the JIT's warm-up (a module runs for
        // months). The drain's per-round code (reading, marking, purging) runs once per 5,000 entries, so it needs
        // many rounds to reach the optimising tier: after a single 200,000-entry warm-up (40 rounds), the JIT's list
        // of compiled methods showed it still promoting that code during the first timed drain, and a profile had the
        // tiered compiler's thread at a tenth of that drain's samples. Three warm-ups (120 rounds) with their purges.
        var warmUp = Math.Min(backlog, 200_000);
        for (var pass = 0; pass < 3; pass++)
        {
            foreach (var forwarder in new[] { packed, unpacked })
            {
                await DrainTimedAsync(store, forwarder, warmUp, payload);
                store.PurgeDelivered();
            }
        }

        ProduceRaw(producer, "raw", warmUp, payload);

        var runs = new List<DrainFigures>();
        double peak = 0;
        using var process = Process.GetCurrentProcess();
        for (var run = 0; run < 3; run++)
        {
            // The peak is the gateway's own: filling, draining and purging the backlog. Linux resets the process's
            // peak resident set on "5" in clear_refs, so the raw producers' queues before it do not count.
            File.WriteAllText("/proc/self/clear_refs", "5");
            var before = HubMessages(cluster.BootstrapServers, "measurements");
            var drain = await DrainTimedAsync(store, packed, backlog, payload);
            var messages = HubMessages(cluster.BootstrapServers, "measurements") - before;

            // What the drain leaves for later: deleting the delivered batches from the file.
            var clock = Stopwatch.StartNew();
            store.PurgeDelivered();
            var purge = clock.Elapsed.TotalSeconds;
            process.Refresh();
            peak = Math.Max(peak, process.PeakWorkingSet64 / 1024.0 / 1024.0);

            var drainUnpacked = await DrainTimedAsync(store, unpacked, backlog, payload);
            store.PurgeDelivered();

            // The raw producer on the same cluster, into a topic of its own: the same messages, keyed the same way, nothing read or marked.
            SyncDisk();
            clock.Restart();
            ProduceRaw(producer, "raw", backlog, payload);
            var raw = backlog / clock.Elapsed.TotalSeconds;

            // For context: the same with a delivery report per message, which anything that deletes only what the hub has needs.
            clock.Restart();
            var delivered = 0;
            ProduceRaw(producer, "raw", backlog, payload, report => Interlocked.Add(ref delivered, report.Error.IsError ? 0 : 1));
            var rawWithReports = delivered == backlog ? backlog / clock.Elapsed.TotalSeconds : throw new InvalidOperationException($"{delivered} of {backlog} delivered");
            // The raw producer sending the drain's own hub messages: each round packs a device's 25 entries into one.
            var pack = PackedMessage.Pack(Enumerable.Repeat((ReadOnlyMemory<byte>)payload, hub.ForwardBatchSize / DrainDevices).ToList());
            clock.Restart();
            ProduceRaw(producer, "raw", (int)messages, pack);
            var rawPacked = backlog / clock.Elapsed.TotalSeconds;
            runs.Add(new DrainFigures(drain, messages, drainUnpacked, raw, rawWithReports, rawPacked, purge));
        }

        return (runs, peak);
    }

    /// <summary>Fills the outbox with a backlog and drains it: entries per second.</summary>
    private static async Task<double> DrainTimedAsync(GatewayStore store, OutboxForwarder forwarder, int count, byte[] payload)
    {
        Fill(store, count, payload);
        SyncDisk();
        var clock = Stopwatch.StartNew();
        for (var sent = 0; sent < count;)
        {
            sent += (await forwarder.ForwardOnceAsync(default)).Acknowledged;
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>How many messages the topic holds, over all the mock cluster's partitions.</summary>
    private static long HubMessages(string bootstrapServers, string topic)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig { BootstrapServers = bootstrapServers, GroupId = "benchmark" }).Build();
        return Enumerable.Range(0, MockClusterProcess.Partitions).Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)).High.Value);
    }

    /// <summary>
    /// Lets the kernel write back what the fill or the purge left dirty before the next timing: an outage's backlog was
    /// written long before the link returns, and neither rate should pay for the other's disk writes.
    /// </summary>
    private static void SyncDisk()
    {
        using var sync = Process.Start("sync")!;
        sync.WaitForExit();
    }

    /// <summary>Outbox batches of 1,000 entries, as the normalization stage writes them (Gateway:NormalizationBatchSize).</summary>
    private static void Fill(GatewayStore store, int count, byte[] payload)
    {
        foreach (var chunk in Enumerable.Range(0, count).Chunk(1_000))
        {
            store.CompleteNormalization([], chunk.Select(i => new OutboxEntry($"device-{i % DrainDevices}", payload, DateTime.UtcNow)).ToList(), []);
        }
    }

    private static void ProduceRaw(IProducer<string, byte[]> producer, string topic, int count, byte[] payload, Action<DeliveryReport<string, byte[]>>? onDelivery = null)
    {
        for (var i = 0; i < count; i++)
        {
            while (true)
            {
                try
                {
                    producer.Produce(topic, new Message<string, byte[]> { Key = $"device-{i % DrainDevices}", Value = payload }, onDelivery);
                    break;
                }
                catch (ProduceException<string, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(10));
                }
            }
        }

        producer.Flush(TimeSpan.FromMinutes(5));
    }

    /// <summary><see cref="Devices"/> publishers, QoS 1, each with up to <see cref="Window"/> messages awaiting their PUBACK.</summary>
    internal static Task PublishAsync(int port, int messages, byte[] payload) => PublishAsync(port, messages, (_, _) => payload);

    /// <summary>As <see cref="PublishAsync(int, int, byte[])"/>, each device's i-th message <paramref name="payloadOf"/>(device, i).</summary>
    internal static Task PublishAsync(int port, int messages, Func<string, int, byte[]> payloadOf) =>
        Task.WhenAll(Enumerable.Range(0, Devices).Select(d => PublishOneDeviceAsync(port, $"monitor-{d}", messages / Devices, i => payloadOf($"monitor-{d}", i))));

    private static async Task PublishOneDeviceAsync(int port, string device, int messages, Func<int, byte[]> payloadAt)
    {
        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(Client(port, device));
        using var window = new SemaphoreSlim(Window);
        var pending = new List<Task>(messages);
        for (var i = 0; i < messages; i++)
        {
            await window.WaitAsync();
            pending.Add(publisher.PublishAsync(new MqttApplicationMessage { Topic = $"devices/{device}/vitals", PayloadSegment = payloadAt(i), QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce })
                .ContinueWith(t => { window.Release(); return t; }, TaskScheduler.Default).Unwrap());
        }

        await Task.WhenAll(pending);
    }

    private static MqttClientOptions Client(int port, string id)
    {
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId(id).WithCleanSession(true).Build();
        // MQTTnet's default 8 KiB socket buffer stalls under load (perf-baselines §1.2).
        ((MqttClientTcpOptions)options.ChannelOptions).BufferSize = 1 << 20;
        return options;
    }
}
