using System.Net;
using System.Net.Sockets;
using MedTech.Edge.Testing;
using MQTTnet;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>
/// The cap on connections not logged in yet (<see cref="DevicePortOptions.MaxPendingConnections"/>), through the real
/// embedded broker: at the cap the oldest pending connection is closed for the newcomer, logged-in devices never are.
/// The broker admits connections in accept order, so which one goes is known without timing.
/// </summary>
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class DevicePortPendingTests
{
    [Fact]
    public async Task GivenThePendingCap_WhenOneMoreConnectionArrives_ThenTheOldestPendingIsClosedAndTheOthersTheNewcomerAndALoggedInDeviceStay()
    {
        // A long CONNECT time-out: only the cap closes anything here.
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions { MaxConnections = 10, MaxPendingConnections = 3, ConnectTimeout = TimeSpan.FromMinutes(2) }));
        using var device = await broker.ConnectAsync("monitor-1", "pw-1");
        using var oldest = await RawMqtt.OpenAsync(broker.Options.Port);
        using var second = await RawMqtt.OpenAsync(broker.Options.Port);
        using var third = await RawMqtt.OpenAsync(broker.Options.Port);
        using var newcomer = await RawMqtt.OpenAsync(broker.Options.Port);

        await RawMqtt.AssertClosedSilentlyAsync(oldest);

        // The others were left pending: each can still log in.
        Assert.True(await RawMqtt.LogInAsync(second, "monitor-2", "pw-2"));
        Assert.True(await RawMqtt.LogInAsync(newcomer, "monitor-3", "pw-3"));
        Assert.True((await device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "1"))).IsSuccess);
        Assert.Equal(["pending_evicted"], broker.ConnectionRefusals);
    }

    [Fact]
    public async Task GivenSilentConnectionsFromSeveralAddresses_WhenTheyKeepComing_ThenOnlyThePendingAreClosedOldestFirstAndLoggedInDevicesStay()
    {
        var port = new DevicePortOptions { MaxConnections = 12, MaxPendingConnections = 4, MaxPendingConnectionsPerAddress = 50, ConnectTimeout = TimeSpan.FromMinutes(2) };
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(port));
        using var first = await broker.ConnectAsync("monitor-1", "pw-1");
        using var second = await broker.ConnectAsync("monitor-2", "pw-2");
        var silent = new List<Socket>();
        try
        {
            // Forty from four addresses: far more than MaxConnections, so a per-address cap alone would not do.
            for (var i = 0; i < 40; i++)
            {
                silent.Add(await OpenFromAsync($"127.0.0.{2 + (i % 4)}", broker.Options.Port));
            }

            // Accepted after all forty; its login closes the oldest of the four left pending.
            using var third = await broker.ConnectAsync("monitor-3", "pw-3");

            foreach (var socket in silent.Take(37))
            {
                await RawMqtt.AssertClosedSilentlyAsync(socket);
            }

            Assert.Equal(Enumerable.Repeat("pending_evicted", 37), broker.ConnectionRefusals);
            Assert.True(first.IsConnected && second.IsConnected);
            Assert.True((await first.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "1"))).IsSuccess);
            Assert.True((await second.PublishAsync(DevicePortHarness.Message("devices/monitor-2/v", "2"))).IsSuccess);
            Assert.True((await third.PublishAsync(DevicePortHarness.Message("devices/monitor-3/v", "3"))).IsSuccess);
            Assert.Equal(["1", "2", "3"], broker.StoredPayloads());
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task GivenThePendingPlacesHeldBySilentConnections_WhenThreeDevicesReconnectAgainAndAgainAtOnce_ThenEveryLoginSucceeds()
    {
        var port = new DevicePortOptions { MaxConnections = 10, MaxPendingConnections = 4, ConnectTimeout = TimeSpan.FromMinutes(2) };
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(port));
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                silent.Add(await OpenFromAsync($"127.0.0.{2 + i}", broker.Options.Port));
            }

            // At most three devices are mid-login at once, under the cap of four: at the cap a silent connection (older
            // than any device's) is always left to close, and once they are gone the cap is never reached.
            await Task.WhenAll(Enumerable.Range(1, 3).Select(async n =>
            {
                for (var round = 0; round < 5; round++)
                {
                    using var device = await broker.ConnectAsync($"monitor-{n}", $"pw-{n}");
                    Assert.True((await device.PublishAsync(DevicePortHarness.Message($"devices/monitor-{n}/v", $"{n}.{round}"))).IsSuccess);
                    await device.DisconnectAsync();
                }
            }));

            Assert.Equal(15, broker.StoredPayloads().Count);
            // The first login finds all four silent ones pending and closes the oldest; later ones only while three are left.
            Assert.InRange(broker.ConnectionRefusals.Count, 1, 4);
            Assert.All(broker.ConnectionRefusals, r => Assert.Equal("pending_evicted", r));
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }
    }

    /// <summary>A silent connection from one of the loopback addresses (an IP alias of a host on the ward LAN).</summary>
    private static async Task<Socket> OpenFromAsync(string address, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
