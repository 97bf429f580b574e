namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The device port's limits are checked on start, each error naming its configuration key.</summary>
public sealed class DevicePortOptionsTests
{
    [Fact]
    public void GivenTheDefaults_WhenValidated_ThenTheyAreUsableAndSizedForAWard()
    {
        var options = new MqttIngestOptions { AllowAnonymous = true };

        Assert.Empty(options.Validate());
        Assert.Equal((500, 100, 50, 65536, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10)),
            (options.DevicePort.MaxConnections, options.DevicePort.EffectiveMaxPendingConnections, options.DevicePort.MaxPendingConnectionsPerAddress, options.DevicePort.MaxConnectPacketBytes, options.DevicePort.TlsHandshakeTimeout, options.DevicePort.ConnectTimeout));
    }

    [Theory]
    [InlineData(nameof(DevicePortOptions.MaxConnections), 0, "Mqtt:DevicePort:MaxConnections")]
    [InlineData(nameof(DevicePortOptions.MaxConnections), 100_001, "Mqtt:DevicePort:MaxConnections")]
    [InlineData(nameof(DevicePortOptions.MaxPendingConnectionsPerAddress), 0, "Mqtt:DevicePort:MaxPendingConnectionsPerAddress")]
    [InlineData(nameof(DevicePortOptions.MaxPendingConnections), 0, "Mqtt:DevicePort:MaxPendingConnections")]
    [InlineData(nameof(DevicePortOptions.MaxPendingConnections), 500, "Mqtt:DevicePort:MaxPendingConnections")]
    [InlineData(nameof(DevicePortOptions.MaxPendingConnections), 100_001, "Mqtt:DevicePort:MaxPendingConnections")]
    [InlineData(nameof(DevicePortOptions.MaxConnectPacketBytes), 127, "Mqtt:DevicePort:MaxConnectPacketBytes")]
    [InlineData(nameof(DevicePortOptions.MaxConnectPacketBytes), (1 << 20) + 1, "Mqtt:DevicePort:MaxConnectPacketBytes")]
    [InlineData(nameof(DevicePortOptions.TlsHandshakeTimeout), 0, "Mqtt:DevicePort:TlsHandshakeTimeout")]
    [InlineData(nameof(DevicePortOptions.TlsHandshakeTimeout), -1, "Mqtt:DevicePort:TlsHandshakeTimeout")]
    [InlineData(nameof(DevicePortOptions.ConnectTimeout), 0, "Mqtt:DevicePort:ConnectTimeout")]
    [InlineData(nameof(DevicePortOptions.ConnectTimeout), 301, "Mqtt:DevicePort:ConnectTimeout")]
    public void GivenALimitOutOfRange_WhenValidated_ThenTheErrorNamesItsKey(string property, int value, string key)
    {
        var port = new DevicePortOptions();
        var target = typeof(DevicePortOptions).GetProperty(property)!;
        target.SetValue(port, target.PropertyType == typeof(TimeSpan) ? TimeSpan.FromSeconds(value) : value);
        var options = new MqttIngestOptions { AllowAnonymous = true, DevicePort = port };

        var error = Assert.Single(options.Validate());

        Assert.StartsWith(key + " must be", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(50, 10)]
    [InlineData(4, 1)]
    [InlineData(1, 1)]
    public void GivenMaxConnectionsLoweredAndNoPendingCap_WhenValidated_ThenItIsTakenWithAFifthOfItPending(int maxConnections, int pending)
    {
        // A configuration written before the pending cap existed must still start.
        var options = new MqttIngestOptions { AllowAnonymous = true, DevicePort = { MaxConnections = maxConnections } };

        Assert.Empty(options.Validate());
        Assert.Equal(pending, options.DevicePort.EffectiveMaxPendingConnections);
    }

    [Theory]
    [InlineData(100, 99, true)]
    [InlineData(100, 100, false)]
    [InlineData(2, 1, true)]
    [InlineData(1, 1, false)]
    public void GivenPendingConnectionsAgainstTheConnectionCap_WhenValidated_ThenOnlyACapBelowItIsTaken(int maxConnections, int maxPending, bool valid)
    {
        var options = new MqttIngestOptions { AllowAnonymous = true, DevicePort = { MaxConnections = maxConnections, MaxPendingConnections = maxPending } };

        var errors = options.Validate();

        Assert.Equal(valid, errors.Count == 0);
        Assert.All(errors, e => Assert.StartsWith("Mqtt:DevicePort:MaxPendingConnections must be below Mqtt:DevicePort:MaxConnections", e, StringComparison.Ordinal));
    }

    [Fact]
    public void GivenExternalMode_WhenTheDevicePortIsMisconfigured_ThenItIsNotChecked()
    {
        // The embedded broker's limits do not apply when Mosquitto is the broker; its own settings do.
        var options = new MqttIngestOptions { Mode = IngestMode.External, External = { Host = "localhost" }, DevicePort = { MaxConnections = 0 } };

        Assert.Empty(options.Validate());
    }
}
