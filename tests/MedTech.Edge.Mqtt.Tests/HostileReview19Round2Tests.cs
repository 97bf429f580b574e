using MedTech.Edge.Testing;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>
/// Second hostile review of issue 19's device-port fixes (the pending-connection cap with eviction of the oldest),
/// through the real embedded broker and raw sockets. The broker admits connections in accept order, so which
/// connection meets which cap is known without timing.
/// </summary>
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class HostileReview19Round2Tests
{

    /// <summary>
    /// The total cap (<see cref="DevicePortOptions.MaxConnections"/>) is checked before eviction: once the logged-in
    /// devices and the pending connections together fill it, a newcomer is closed as "connection_cap" and no silent
    /// connection gives its place. A host without any credentials that keeps <see cref="DevicePortOptions.MaxPendingConnections"/>
    /// silent connections open (reopening each when its CONNECT time-out closes it) thus takes a fifth of the ward's places
    /// for good, and once the devices hold the rest, keeps every further (or reconnecting) monitor out.
    /// </summary>
    [Fact]
    public async Task GivenLoggedInDevicesAndSilentConnectionsFillTheConnectionCap_WhenAnotherDeviceConnects_ThenASilentConnectionGivesItsPlace()
    {
        var port = new DevicePortOptions { MaxConnections = 4, MaxPendingConnections = 2, ConnectTimeout = TimeSpan.FromMinutes(2) };
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(port));
        using var first = await broker.ConnectAsync("monitor-1", "pw-1");
        using var second = await broker.ConnectAsync("monitor-2", "pw-2");
        using var silentOne = await RawMqtt.OpenAsync(broker.Options.Port);
        using var silentTwo = await RawMqtt.OpenAsync(broker.Options.Port);

        // Accepted after both silent ones: four places are taken, two of them by connections that never logged in.
        var third = await Record.ExceptionAsync(async () =>
        {
            using var device = await broker.ConnectAsync("monitor-3", "pw-3");
            Assert.True((await device.PublishAsync(DevicePortHarness.Message("devices/monitor-3/v", "3"))).IsSuccess);
        });

        Assert.Null(third);
        await RawMqtt.AssertClosedSilentlyAsync(silentOne);
        Assert.Equal(["pending_evicted"], broker.ConnectionRefusals);
        Assert.True(first.IsConnected && second.IsConnected);
    }
}
