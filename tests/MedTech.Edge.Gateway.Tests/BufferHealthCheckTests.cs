using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Protocol;
using HealthStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// The buffer's health check at the edges of its thresholds: healthy below 90 % of Buffer:MaxMessages and of
/// Buffer:MaxBytes, degraded from 90 %, unhealthy when full (each limit alone, the worse one named); a write failure
/// reported by ingest wins over the fill level; a store that cannot be read throws (the health library reports that
/// as unhealthy by the exception's type). Then the same through the real parts: a real buffer file filling up, and
/// the embedded broker committing to a buffer on a full disk.
/// </summary>
public sealed class BufferHealthCheckTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-bufferhealth-").FullName;
    private readonly FullDisk disk = new();
    private readonly List<FullDiskFile> files = [];

    public void Dispose()
    {
        files.ForEach(f => f.Dispose());
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData(100, 89, HealthStatus.Healthy, "ok")]
    [InlineData(100, 90, HealthStatus.Degraded, "90 % full (messages)")]
    [InlineData(100, 99, HealthStatus.Degraded, "99 % full (messages)")]
    [InlineData(100, 100, HealthStatus.Unhealthy, "full (messages): new messages are refused and wait at the devices")]
    [InlineData(100, 250, HealthStatus.Unhealthy, "full (messages): new messages are refused and wait at the devices")]
    [InlineData(30, 26, HealthStatus.Healthy, "ok")]
    [InlineData(30, 27, HealthStatus.Degraded, "90 % full (messages)")]
    [InlineData(1000, 899, HealthStatus.Healthy, "ok")]
    [InlineData(1000, 900, HealthStatus.Degraded, "90 % full (messages)")]
    [InlineData(2_000_000, 1_799_999, HealthStatus.Healthy, "ok")]
    [InlineData(2_000_000, 1_800_000, HealthStatus.Degraded, "90 % full (messages)")]
    [InlineData(2_000_000, 1_999_999, HealthStatus.Degraded, "99 % full (messages)")]
    [InlineData(2_000_000, 2_000_000, HealthStatus.Unhealthy, "full (messages): new messages are refused and wait at the devices")]
    [InlineData(long.MaxValue, long.MaxValue, HealthStatus.Unhealthy, "full (messages): new messages are refused and wait at the devices")]
    public async Task GivenMessagesHeldAgainstMaxMessages_WhenChecked_ThenHealthyBelow90DegradedFrom90AndUnhealthyWhenFull(long max, long held, HealthStatus status, string reason)
    {
        // Inbox and the outbox's messages both count; split them so that neither alone makes the share.
        var result = await CheckAsync(new BufferOptions { MaxMessages = max, MaxBytes = long.MaxValue }, Stats(inbox: held / 2, outboxMessages: held - (held / 2), bytes: 0));

        Assert.Equal(status, result.Status);
        Assert.Equal(reason, result.Description);
    }

    [Theory]
    [InlineData(100_000, 89_000, HealthStatus.Healthy, "ok")]
    [InlineData(100_000, 89_999, HealthStatus.Healthy, "ok")]
    [InlineData(100_000, 90_000, HealthStatus.Degraded, "90 % full (bytes)")]
    [InlineData(100_000, 100_000, HealthStatus.Unhealthy, "full (bytes): new messages are refused and wait at the devices")]
    // 90 % of 8 GiB is 7,730,941,132.8 bytes.
    [InlineData(8L << 30, 7_730_941_132, HealthStatus.Healthy, "ok")]
    [InlineData(8L << 30, 7_730_941_133, HealthStatus.Degraded, "90 % full (bytes)")]
    [InlineData(8L << 30, (8L << 30) - 1, HealthStatus.Degraded, "99 % full (bytes)")]
    [InlineData(8L << 30, 8L << 30, HealthStatus.Unhealthy, "full (bytes): new messages are refused and wait at the devices")]
    public async Task GivenBytesHeldAgainstMaxBytes_WhenChecked_ThenHealthyBelow90DegradedFrom90AndUnhealthyWhenFull(long max, long held, HealthStatus status, string reason)
    {
        var result = await CheckAsync(new BufferOptions { MaxMessages = 1000, MaxBytes = max }, Stats(inbox: 1, outboxMessages: 0, bytes: held));

        Assert.Equal(status, result.Status);
        Assert.Equal(reason, result.Description);
    }

    [Fact]
    public async Task GivenBothLimitsAt89Percent_WhenChecked_ThenHealthyBecauseTheSharesAreNotAdded()
    {
        var result = await CheckAsync(new BufferOptions { MaxMessages = 100, MaxBytes = 100_000 }, Stats(inbox: 89, outboxMessages: 0, bytes: 89_000));

        Assert.Equal(HealthStatus.Healthy, result.Status);
    }

    [Fact]
    public async Task GivenMessagesAt90AndBytesFull_WhenChecked_ThenUnhealthyNamingTheBytes()
    {
        var result = await CheckAsync(new BufferOptions { MaxMessages = 100, MaxBytes = 100_000 }, Stats(inbox: 90, outboxMessages: 0, bytes: 100_000));

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.StartsWith("full (bytes)", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GivenEvictOldest_WhenFull_ThenUnhealthySayingTheOldestDataIsEvicted()
    {
        var result = await CheckAsync(new BufferOptions { MaxMessages = 100, MaxBytes = long.MaxValue, CapacityPolicy = CapacityPolicy.EvictOldest }, Stats(inbox: 100, outboxMessages: 0, bytes: 0));

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal("full (messages): the oldest unsent data is evicted", result.Description);
    }

    [Fact]
    public async Task GivenAWriteFailureReportedWhileNearlyFull_WhenChecked_ThenUnhealthyWithTheWriteFailureAndHealthyAgainOnceAWriteWorks()
    {
        var health = new ModuleHealth();
        health.Unhealthy(BufferHealthCheck.Name, "the buffer cannot write (IOException, e.g. a full disk)");
        var options = new BufferOptions { MaxMessages = 100, MaxBytes = long.MaxValue };
        var stats = Stats(inbox: 95, outboxMessages: 0, bytes: 0);

        var failing = await CheckAsync(options, stats, health);
        Assert.Equal(HealthStatus.Unhealthy, failing.Status);
        Assert.Equal("the buffer cannot write (IOException, e.g. a full disk)", failing.Description);

        health.Healthy(BufferHealthCheck.Name);
        var written = await CheckAsync(options, stats, health);
        Assert.Equal(HealthStatus.Degraded, written.Status);
        Assert.Equal("95 % full (messages)", written.Description);
    }

    [Fact]
    public async Task GivenAStoreThatCannotBeRead_WhenChecked_ThenTheCheckThrowsForTheHealthLibraryToReportByType()
    {
        var check = new BufferHealthCheck(new Upkeep(() => throw new IOException("disk I/O error")), new BufferOptions(), new ModuleHealth());

        await Assert.ThrowsAsync<IOException>(() => check.CheckHealthAsync(new HealthCheckContext()));
    }

    [Fact]
    public async Task GivenARealBufferFile_WhenItFillsTo90PercentAndToFull_ThenTheCheckGoesDegradedThenUnhealthy()
    {
        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxMessages = 10, CommitWindow = TimeSpan.Zero };
        using var store = new GatewayStore(options);
        var check = new BufferHealthCheck(store.Upkeep, options, new ModuleHealth());

        store.Append(Enumerable.Range(0, 8).Select(i => Message($"m{i}")).ToList());
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        store.Append([Message("m8")]);
        var nearlyFull = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Degraded, nearlyFull.Status);
        Assert.Equal("90 % full (messages)", nearlyFull.Description);

        store.Append([Message("m9")]);
        var full = await check.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, full.Status);
        Assert.StartsWith("full (messages)", full.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GivenTheEmbeddedBrokerOnABufferWhoseDiskIsFull_WhenADevicePublishes_ThenTheCheckIsUnhealthyNamingTheWriteFailureAndHealthyOnceSpaceIsBack()
    {
        var buffer = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), CommitWindow = TimeSpan.Zero };
        using var store = new GatewayStore(buffer, null, path =>
        {
            var file = new FullDiskFile(path, disk);
            files.Add(file);
            return file;
        });
        var writer = new InboxWriter(store, buffer) { ReopenInterval = TimeSpan.Zero };
        using var stop = new CancellationTokenSource();
        var commits = writer.RunAsync(stop.Token);
        var health = new ModuleHealth();
        using var metrics = new IngestMetrics();
        var port = Ports.Free();
        var broker = new EmbeddedBroker(new MqttIngestOptions { Port = port, AllowAnonymous = true }, writer, metrics, NullLogger<EmbeddedBroker>.Instance, health: health);
        await broker.StartAsync();
        var check = new BufferHealthCheck(store.Upkeep, buffer, health);
        try
        {
            disk.Full = true;
            Assert.False(await PublishAsync(port, new string('x', 20_000)));
            var failing = await check.CheckHealthAsync(new HealthCheckContext());
            Assert.Equal(HealthStatus.Unhealthy, failing.Status);
            Assert.StartsWith("the buffer cannot write (IOException", failing.Description, StringComparison.Ordinal);
            Assert.DoesNotContain("No space", failing.Description, StringComparison.Ordinal);

            disk.Full = false;
            Assert.True(await PublishAsync(port, "after"));
            Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
        }
        finally
        {
            await broker.DisposeAsync();
            await stop.CancelAsync();
            await commits;
        }
    }

    /// <summary>Publishes one message at QoS 1; true when it was acknowledged (stored), false when the broker closed the connection instead.</summary>
    private static async Task<bool> PublishAsync(int port, string payload)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-health").WithTimeout(TimeSpan.FromSeconds(10)).Build());
        try
        {
            var ack = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/bed-health/vitals").WithPayload(Encoding.UTF8.GetBytes(payload))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            return ack.IsSuccess;
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or MQTTnet.Exceptions.MqttClientNotConnectedException)
        {
            return false;
        }
    }

    private static Task<HealthCheckResult> CheckAsync(BufferOptions options, BufferStats stats, ModuleHealth? health = null) =>
        new BufferHealthCheck(new Upkeep(() => stats), options, health ?? new ModuleHealth()).CheckHealthAsync(new HealthCheckContext());

    private static BufferStats Stats(long inbox, long outboxMessages, long bytes) =>
        new(inbox, outboxMessages > 0 ? 1 : 0, 0, null, 0, new Dictionary<string, long>(), 0) { OutboxMessages = outboxMessages, UnsentBytes = bytes };

    private static InboxMessage Message(string payload) => new("bed-1", "devices/bed-1/v", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>());

    /// <summary>The buffer's counts as given (or a failure to read them); the check calls nothing else.</summary>
    private sealed class Upkeep(Func<BufferStats> stats) : IBufferUpkeep
    {
        public BufferStats Stats() => stats();

        public int ExpireOld() => throw new NotSupportedException();

        public long PurgeDelivered() => throw new NotSupportedException();

        public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => throw new NotSupportedException();
    }
}
