using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>
/// Per-device quota (publish rate, share of the buffer: inbox and undelivered outbox) and the authenticated flag, through the embedded broker with real
/// MQTTnet clients and a real LiteDB buffer (nothing normalizes here, so the inbox only grows unless a test completes it).
/// </summary>
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class DeviceQuotaTests : IAsyncLifetime
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-quota-").FullName;
    private readonly IngestMetrics metrics = new();
    private CancellationTokenSource stop = new();
    private GatewayStore store = null!;
    private EmbeddedBroker? broker;
    private Task commits = Task.CompletedTask;
    private MqttIngestOptions options = null!;
    private BufferOptions buffer = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await StopAsync();
        metrics.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void GivenATokenBucket_WhenADeviceSpendsItsBurst_ThenItIsRateLimitedUntilTimeRefillsItAndAnotherDeviceIsNot()
    {
        var time = new FakeTimeProvider();
        using var quotaStore = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "unit.db") });
        var quota = new DeviceQuota(new DeviceQuotaOptions { RatePerSecond = 2, Burst = 3 }, quotaStore, new BufferOptions(), NullLogger<DeviceQuota>.Instance, time);

        var first = Enumerable.Range(0, 4).Select(_ => quota.Admit("monitor-1")).ToList();
        var other = quota.Admit("monitor-2");
        time.Advance(TimeSpan.FromSeconds(0.5));
        var afterHalfASecond = (quota.Admit("monitor-1"), quota.Admit("monitor-1"));
        time.Advance(TimeSpan.FromHours(1));
        var afterAnHour = Enumerable.Range(0, 4).Select(_ => quota.Admit("monitor-1")).ToList();

        Assert.Equal([null, null, null, DeviceQuota.RateLimited], first);
        Assert.Null(other);
        Assert.Equal((null, DeviceQuota.RateLimited), afterHalfASecond);
        Assert.Equal([null, null, null, DeviceQuota.RateLimited], afterAnHour);
    }

    [Theory]
    [InlineData(-1, 100, 0.05)]
    [InlineData(double.NaN, 100, 0.05)]
    [InlineData(20, 0, 0.05)]
    [InlineData(20, 100, 0)]
    [InlineData(20, 100, 1.5)]
    [InlineData(20, 100, double.PositiveInfinity)]
    public void GivenAQuotaThatCannotWork_WhenTheOptionsAreValidated_ThenTheErrorNamesItsKey(double rate, int burst, double share)
    {
        var ingest = new MqttIngestOptions { AllowAnonymous = true, DeviceQuota = new DeviceQuotaOptions { RatePerSecond = rate, Burst = burst, BufferShare = share } };

        var error = Assert.Single(ingest.Validate());

        Assert.StartsWith("Mqtt:DeviceQuota:", error, StringComparison.Ordinal);
        Assert.Empty(new MqttIngestOptions { AllowAnonymous = true }.Validate());
        Assert.Empty(new MqttIngestOptions { AllowAnonymous = true, DeviceQuota = new DeviceQuotaOptions { RatePerSecond = 0, Burst = 0, BufferShare = 1 } }.Validate());
    }

    [Fact]
    public async Task GivenAnMqtt5DeviceOverItsRate_WhenItPublishes_ThenItGetsQuotaExceededAndAnotherDeviceIsStillAcknowledged()
    {
        await StartAsync(new DeviceQuotaOptions { RatePerSecond = 0.001, Burst = 5 });
        using var flooder = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);
        using var other = await ConnectAsync("monitor-2", "pw-2", MqttProtocolVersion.V500);

        var codes = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            codes.Add((await flooder.PublishAsync(Message("devices/monitor-1/v", $"{i}"))).ReasonCode.ToString());
        }

        var good = await other.PublishAsync(Message("devices/monitor-2/v", "good"));

        Assert.Equal(Enumerable.Repeat("Success", 5).Concat(Enumerable.Repeat("QuotaExceeded", 3)), codes);
        Assert.True(good.IsSuccess);
        Assert.True(flooder.IsConnected);
        Assert.Equal((5, 1), (store.ReadInbox(100).Count(m => m.ClientId == "monitor-1"), store.ReadInbox(100).Count(m => m.ClientId == "monitor-2")));
        Assert.Equal((9L, 6L, 6L, 0L), (metrics.Received, metrics.Committed, store.Stats().Committed, store.Stats().Unaccounted));
    }

    [Fact]
    public async Task GivenAnMqtt311DeviceOverItsRate_WhenItPublishes_ThenItsConnectionClosesWithoutPubAckAndAnotherDeviceIsStillAcknowledged()
    {
        await StartAsync(new DeviceQuotaOptions { RatePerSecond = 0.001, Burst = 2 });
        using var flooder = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V311);
        await flooder.PublishAsync(Message("devices/monitor-1/v", "1"));
        await flooder.PublishAsync(Message("devices/monitor-1/v", "2"));

        await Assert.ThrowsAnyAsync<Exception>(() => flooder.PublishAsync(Message("devices/monitor-1/v", "3")));
        using var other = await ConnectAsync("monitor-2", "pw-2", MqttProtocolVersion.V311);
        Assert.True((await other.PublishAsync(Message("devices/monitor-2/v", "good"))).IsSuccess);

        // Reconnecting does not refill the bucket.
        using var again = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V311);
        await Assert.ThrowsAnyAsync<Exception>(() => again.PublishAsync(Message("devices/monitor-1/v", "4")));
        Assert.Equal(["1", "2", "good"], store.ReadInbox(100).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
    }

    [Fact]
    public async Task GivenADeviceHoldingItsShareOfTheInbox_WhenItPublishes_ThenItIsRefusedAnotherIsAcknowledgedAndThatHoldsAcrossARestart()
    {
        // 1 % of 300 messages: 3 per device; the rate is off so only the share binds.
        var quota = new DeviceQuotaOptions { RatePerSecond = 0, BufferShare = 0.01 };
        await StartAsync(quota, maxMessages: 300);
        using (var device = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500))
        {
            var codes = new List<string>();
            for (var i = 0; i < 5; i++)
            {
                codes.Add((await device.PublishAsync(Message("devices/monitor-1/v", $"{i}"))).ReasonCode.ToString());
            }

            Assert.Equal(["Success", "Success", "Success", "QuotaExceeded", "QuotaExceeded"], codes);
        }

        await StopAsync();
        await StartAsync(quota, maxMessages: 300, sameFile: true);
        using var after = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);
        using var other = await ConnectAsync("monitor-2", "pw-2", MqttProtocolVersion.V500);
        Assert.Equal("QuotaExceeded", (await after.PublishAsync(Message("devices/monitor-1/v", "after restart"))).ReasonCode.ToString());
        Assert.True((await other.PublishAsync(Message("devices/monitor-2/v", "good"))).IsSuccess);

        // Once Normalize has taken its messages, the device is acknowledged again.
        store.CompleteNormalization(store.ReadInbox(100).Where(m => m.ClientId == "monitor-1").Select(m => m.Id).ToList(), [], []);
        Assert.True((await after.PublishAsync(Message("devices/monitor-1/v", "room again"))).IsSuccess);
        var stats = store.Stats();
        Assert.Equal((5L, 3L, 2L, 0L), (stats.Committed, stats.Normalized, stats.Inbox, stats.Unaccounted));
    }

    [Fact]
    public async Task GivenAnUplinkOutage_WhenADevicesShareWaitsInTheOutboxWhileItReconnectsAndTheGatewayRestarts_ThenItIsRefusedAnotherIsAcknowledgedAndDeliveryGivesItRoomAgain()
    {
        // 1 % of 300 messages: 3 per device; the rate is off so only the share binds.
        var quota = new DeviceQuotaOptions { RatePerSecond = 0, BufferShare = 0.01 };
        await StartAsync(quota, maxMessages: 300);
        using (var device = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500))
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.True((await device.PublishAsync(Message("devices/monitor-1/v", $"{i}"))).IsSuccess);
            }
        }

        // Normalize empties the inbox into groups that cannot be delivered; the device has gone away meanwhile.
        NormalizeAll();
        Assert.Equal(0, store.Stats().Inbox);
        using (var back = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500))
        {
            Assert.Equal("QuotaExceeded", (await back.PublishAsync(Message("devices/monitor-1/v", "reconnected"))).ReasonCode.ToString());
        }

        await StopAsync();
        await StartAsync(quota, maxMessages: 300, sameFile: true);
        using var after = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);
        using var other = await ConnectAsync("monitor-2", "pw-2", MqttProtocolVersion.V500);
        Assert.Equal("QuotaExceeded", (await after.PublishAsync(Message("devices/monitor-1/v", "after restart"))).ReasonCode.ToString());
        Assert.True((await other.PublishAsync(Message("devices/monitor-2/v", "good"))).IsSuccess);

        // The uplink is back: the groups are delivered and the device is acknowledged again.
        store.MarkDelivered(store.ReadOutbox(100).Select(e => e.Id).Distinct().ToList());
        Assert.True((await after.PublishAsync(Message("devices/monitor-1/v", "room again"))).IsSuccess);
        Assert.Equal((5L, 0L), (store.Stats().Committed, store.Stats().Unaccounted));
    }

    [Fact]
    public async Task GivenARelayReportingForSeveralBeds_WhenItsGroupsWaitInTheOutboxUnderTheBedsIds_ThenTheRelayHoldsOneShareAndAnotherDeviceIsAcknowledged()
    {
        await StartAsync(new DeviceQuotaOptions { RatePerSecond = 0, BufferShare = 0.01 }, maxMessages: 300);
        using var relay = await ConnectAsync("station-1", "pw-s", MqttProtocolVersion.V500);
        foreach (var bed in new[] { "bed-1", "bed-2", "bed-3" })
        {
            Assert.True((await relay.PublishAsync(Message("devices/station-1/v", bed))).IsSuccess);
        }

        // Each bed's group is keyed by the bed's device id; the relay sent them all.
        var inbox = store.ReadInbox(100);
        store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), inbox.Select(m => Group(Encoding.UTF8.GetString(m.Payload.Span))).ToList(), []);

        using var other = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);
        Assert.Equal("QuotaExceeded", (await relay.PublishAsync(Message("devices/station-1/v", "bed-4"))).ReasonCode.ToString());
        Assert.True((await other.PublishAsync(Message("devices/monitor-1/v", "good"))).IsSuccess);
    }

    [Fact]
    public async Task GivenADevicesMessagesDeadLettered_WhenItPublishesAgain_ThenItIsAcknowledgedForDeadLettersCountAgainstNobody()
    {
        await StartAsync(new DeviceQuotaOptions { RatePerSecond = 0, BufferShare = 0.01 }, maxMessages: 300);
        using var device = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await device.PublishAsync(Message("devices/monitor-1/v", $"garbage {i}"))).IsSuccess);
        }

        Assert.Equal("QuotaExceeded", (await device.PublishAsync(Message("devices/monitor-1/v", "over"))).ReasonCode.ToString());
        var inbox = store.ReadInbox(100);
        store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), [], inbox.Select(m => new DeadLetter(m, "Test", "test", DateTime.UtcNow)).ToList());

        Assert.True((await device.PublishAsync(Message("devices/monitor-1/v", "good"))).IsSuccess);
        Assert.Equal((3L, 1L), (store.Stats().DeadLetters, store.Stats().Inbox));
    }

    [Fact]
    public async Task GivenADeviceWithAPasswordAndAnAnonymousClient_WhenBothPublish_ThenOnlyTheDevicesMessageIsStoredAsAuthenticated()
    {
        await StartAsync(new DeviceQuotaOptions(), allowAnonymous: true);
        using var device = await ConnectAsync("monitor-1", "pw-1", MqttProtocolVersion.V500);
        using var anonymous = await ConnectAsync("guest-1", null, MqttProtocolVersion.V500);

        await device.PublishAsync(Message("devices/monitor-1/v", "signed in"));
        await anonymous.PublishAsync(Message("devices/guest-1/v", "anonymous"));

        Assert.Equal([("monitor-1", true), ("guest-1", false)], store.ReadInbox(10).Select(m => (m.ClientId, m.Authenticated)));
    }

    private async Task StartAsync(DeviceQuotaOptions quota, long maxMessages = 1000, bool allowAnonymous = false, bool sameFile = false)
    {
        var passwords = Path.Combine(folder, "mqtt-passwords");
        MosquittoPasswd.Add(passwords, "monitor-1", "pw-1", create: true);
        MosquittoPasswd.Add(passwords, "monitor-2", "pw-2");
        MosquittoPasswd.Add(passwords, "station-1", "pw-s");
        options = new MqttIngestOptions
        {
            Port = sameFile ? options.Port : Ports.Free(),
            PasswordFile = passwords,
            DeviceTopicPattern = "devices/{clientId}/",
            AllowAnonymous = allowAnonymous,
            DeviceQuota = quota,
        };
        buffer = new BufferOptions { Path = sameFile ? buffer.Path : Path.Combine(folder, "gateway.db"), MaxMessages = maxMessages, CommitWindow = TimeSpan.Zero };
        store = new GatewayStore(buffer);
        var writer = new InboxWriter(store, buffer);
        stop = new CancellationTokenSource();
        commits = writer.RunAsync(stop.Token);
        broker = new EmbeddedBroker(options, writer, metrics, NullLogger<EmbeddedBroker>.Instance,
            quota: new DeviceQuota(quota, store, buffer, NullLogger<DeviceQuota>.Instance));
        await broker.StartAsync();
    }

    /// <summary>What Normalize does while the uplink is down: every inbox message into a group that waits in the outbox.</summary>
    private void NormalizeAll()
    {
        var inbox = store.ReadInbox(1000);
        store.CompleteNormalization(inbox.Select(m => m.Id).ToList(), inbox.Select(m => Group(m.ClientId)).ToList(), []);
    }

    private static OutboxEntry Group(string deviceId) => new(deviceId, Encoding.UTF8.GetBytes($"{{\"deviceId\":\"{deviceId}\"}}"), DateTime.UtcNow);

    private async Task StopAsync()
    {
        if (broker is null)
        {
            return;
        }

        await broker.DisposeAsync();
        broker = null;
        await stop.CancelAsync();
        await commits;
        stop.Dispose();
        store.Dispose();
    }

    private async Task<IMqttClient> ConnectAsync(string clientId, string? password, MqttProtocolVersion version)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var builder = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.Port).WithClientId(clientId).WithProtocolVersion(version)
            .WithTimeout(TimeSpan.FromSeconds(5));
        if (password is not null)
        {
            builder = builder.WithCredentials(clientId, password);
        }

        var result = await client.ConnectAsync(builder.Build());
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return client;
    }

    private static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    /// <summary>A clock the test moves by hand, for the token bucket's timestamps.</summary>
}
