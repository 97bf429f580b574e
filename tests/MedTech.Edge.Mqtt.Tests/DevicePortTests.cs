using MedTech.Edge.Testing;
using MQTTnet;
using MQTTnet.Formatter;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>
/// The device port's limits through the real embedded broker: a connection cap, the CONNECT and TLS handshake
/// time-outs, and packets over the size limit, each with raw sockets beside well-behaved MQTTnet devices.
/// </summary>
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class DevicePortTests
{
    [Fact]
    public async Task GivenTheConnectionCapHeldByLoggedInDevices_WhenOneMoreClientConnects_ThenItIsClosedAndConnectedDevicesKeepPublishing()
    {
        // Every place is a logged-in device, so there is no connection without a login to give its place (see the
        // round-2 review's test for that case).
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions { MaxConnections = 3, ConnectTimeout = TimeSpan.FromMinutes(2) }));
        using var first = await broker.ConnectAsync("monitor-1", "pw-1");
        using var second = await broker.ConnectAsync("monitor-2", "pw-2", MqttProtocolVersion.V500);
        var third = await broker.ConnectAsync("monitor-3", "pw-3");

        await RawMqtt.AssertRefusedAsync(broker.Options.Port, RawMqtt.Connect("monitor-1", "pw-1"));
        Assert.True((await first.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "1"))).IsSuccess);
        Assert.True((await second.PublishAsync(DevicePortHarness.Message("devices/monitor-2/v", "2"))).IsSuccess);

        // A place that frees up can be taken again.
        await third.DisconnectAsync();
        third.Dispose();
        using var connected = await ConnectWhenThereIsRoomAsync(broker, "monitor-3", "pw-3");
        Assert.True((await connected.PublishAsync(DevicePortHarness.Message("devices/monitor-3/v", "3"))).IsSuccess);
        Assert.Equal(["1", "2", "3"], broker.StoredPayloads());
    }

    [Fact]
    public async Task GivenOneAddressHoldingItsPendingPlaces_WhenItOpensOneMore_ThenThatIsClosedAndLoggedInDevicesAreUnaffected()
    {
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions { MaxPendingConnectionsPerAddress = 2, ConnectTimeout = TimeSpan.FromMinutes(2) }));
        using var device = await broker.ConnectAsync("monitor-1", "pw-1");
        using var first = await RawMqtt.OpenAsync(broker.Options.Port);
        using var second = await RawMqtt.OpenAsync(broker.Options.Port);

        await RawMqtt.AssertRefusedAsync(broker.Options.Port, RawMqtt.Connect("monitor-2", "pw-2"));

        // Logged-in devices hold no pending place: monitor-1 (from the same address) publishes on.
        Assert.True((await device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "1"))).IsSuccess);

        // A place given back (the silent client leaves) can be taken by a device that logs in.
        first.Close(0);
        using var another = await ConnectWhenThereIsRoomAsync(broker, "monitor-2", "pw-2");
        Assert.True((await another.PublishAsync(DevicePortHarness.Message("devices/monitor-2/v", "2"))).IsSuccess);
        Assert.Equal(["1", "2"], broker.StoredPayloads());
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x10, 0x40, 0x00, 0x04, (byte)'M' })] // a CONNECT that stops after 3 of its 64 bytes
    public async Task GivenAClientThatDoesNotFinishItsConnect_WhenTheConnectTimeoutPasses_ThenItIsClosedAndALoggedInDeviceStays(byte[] sent)
    {
        // One second against MQTTnet's own 100: a connection closed within the hang guard was closed by this limit.
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions { ConnectTimeout = TimeSpan.FromSeconds(1) }));
        using var device = await broker.ConnectAsync("monitor-1", "pw-1");
        using var stalled = await RawMqtt.OpenAsync(broker.Options.Port);
        await RawMqtt.TrySendAsync(stalled, sent);

        await RawMqtt.AssertClosedSilentlyAsync(stalled);

        // Connected before the stalled client and so for longer than the time-out: its CONNACK stopped the clock.
        Assert.True((await device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "still here"))).IsSuccess);
        Assert.Equal(["still here"], broker.StoredPayloads());
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 })] // a TLS record header announcing a ClientHello, then nothing
    public async Task GivenATlsClientThatStallsInTheHandshake_WhenTheHandshakeTimeoutPasses_ThenItIsClosedAndOtherDevicesConnect(byte[] sent)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-port-tls-").FullName;
        try
        {
            var (pfx, thumbprint) = DevicePortHarness.BrokerCertificate(folder);
            var options = DevicePortHarness.DeviceOptions(new DevicePortOptions { TlsHandshakeTimeout = TimeSpan.FromSeconds(1), ConnectTimeout = TimeSpan.FromMinutes(2) });
            (options.TlsPort, options.CertificatePath, options.CertificatePassword) = (Ports.Free(), pfx, "test");
            await using var broker = await DevicePortHarness.StartAsync(options);
            using var stalled = await RawMqtt.OpenAsync(options.TlsPort);
            await RawMqtt.TrySendAsync(stalled, sent);

            // The CONNECT time-out is two minutes and only starts after a handshake: this close is the handshake's.
            await RawMqtt.AssertClosedSilentlyAsync(stalled);

            using var device = await broker.ConnectAsync("monitor-1", "pw-1", tlsThumbprint: thumbprint);
            Assert.True((await device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "tls"))).IsSuccess);
            Assert.Equal(["tls"], broker.StoredPayloads());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task GivenClientCertificatesRequired_WhenADeviceBringsAnUntrustedOneOrNone_ThenTheHandshakeRefusesIt(bool withCertificate)
    {
        var folder = Directory.CreateTempSubdirectory("medtech-port-mtls-").FullName;
        try
        {
            var (pfx, thumbprint) = DevicePortHarness.BrokerCertificate(folder);
            var options = DevicePortHarness.DeviceOptions(new DevicePortOptions());
            (options.Port, options.TlsPort, options.CertificatePath, options.CertificatePassword, options.RequireClientCertificate) = (0, Ports.Free(), pfx, "test", true);
            // The device CA the broker trusts: one the device's own certificate does not chain to.
            using var caKey = System.Security.Cryptography.ECDsa.Create();
            var caRequest = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=ward device CA", caKey, System.Security.Cryptography.HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
            using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            options.ClientCertificates.CaBundlePath = Path.Combine(folder, "device-ca.pem");
            File.WriteAllText(options.ClientCertificates.CaBundlePath, ca.ExportCertificatePem());
            options.ClientCertificates.Revocation = RevocationCheck.NoCheck;
            await using var broker = await DevicePortHarness.StartAsync(options);
            using var rsa = System.Security.Cryptography.RSA.Create(2048);
            using var own = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=monitor-1", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256,
                System.Security.Cryptography.RSASignaturePadding.Pkcs1).CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            using var client = new MqttClientFactory().CreateMqttClient();
            var tls = new MqttClientTlsOptionsBuilder().UseTls().WithCertificateValidationHandler(e => e.Certificate.GetCertHashString() == thumbprint);
            if (withCertificate)
            {
                tls = tls.WithClientCertificates([own]);
            }

            // Refused in the device port's handshake (no certificate, or one that chains to nothing the broker trusts).
            await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", options.TlsPort)
                .WithClientId("monitor-1").WithTlsOptions(tls.Build()).WithTimeout(TimeSpan.FromSeconds(10)).Build()));
            Assert.Empty(broker.StoredPayloads());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task GivenALoggedInDevice_WhenItPublishesOverTheMessageLimitPlusHeadroom_ThenTheConnectionClosesAndNothingIsStored(MqttProtocolVersion version)
    {
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions()));
        using var device = await broker.ConnectAsync("monitor-1", "pw-1", version);
        var payload = new string('x', broker.Options.MaxMessageBytes + DevicePortOptions.PacketHeadroomBytes + 1);

        await Assert.ThrowsAnyAsync<Exception>(() => device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", payload)));

        using var other = await broker.ConnectAsync("monitor-2", "pw-2", version);
        Assert.True((await other.PublishAsync(DevicePortHarness.Message("devices/monitor-2/v", "good"))).IsSuccess);
        Assert.Equal(["good"], broker.StoredPayloads());
    }

    [Fact]
    public async Task GivenALoggedInRawClient_WhenItAnnouncesA256MBPublish_ThenTheConnectionClosesWithoutAPubAck()
    {
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions()));
        using var socket = await RawMqtt.OpenAsync(broker.Options.Port);
        Assert.True(await RawMqtt.LogInAsync(socket, "monitor-1", "pw-1"));

        // QoS 1 PUBLISH announcing 268,435,455 bytes, then the start of a valid topic, packet id and payload.
        await RawMqtt.TrySendAsync(socket, [0x32, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x13, .. "devices/monitor-1/v"u8, 0x00, 0x01, .. new byte[4096]]);

        await RawMqtt.AssertClosedSilentlyAsync(socket);
        Assert.Empty(broker.StoredPayloads());
    }

    [Fact]
    public async Task GivenAConnectOverTheConnectLimit_WhenItArrives_ThenItIsClosedWithoutAConnAck()
    {
        await using var broker = await DevicePortHarness.StartAsync(DevicePortHarness.DeviceOptions(new DevicePortOptions { MaxConnectPacketBytes = 1024 }));
        using var socket = await RawMqtt.OpenAsync(broker.Options.Port);

        // A well-formed CONNECT whose password makes it 2 KB: under MQTTnet's limits, over the device port's.
        await RawMqtt.TrySendAsync(socket, RawMqtt.Connect("monitor-1", new string('p', 2048)));

        await RawMqtt.AssertClosedSilentlyAsync(socket);
        using var device = await broker.ConnectAsync("monitor-1", "pw-1");
        Assert.True(device.IsConnected);
    }

    /// <summary>Logs in once the broker has seen a freed place: it notices a close when it next reads that socket.</summary>
    private static async Task<IMqttClient> ConnectWhenThereIsRoomAsync(DevicePortHarness broker, string clientId, string password)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await broker.ConnectAsync(clientId, password);
            }
            catch (Exception) when (attempt < 100)
            {
                await Task.Delay(100);
            }
        }
    }
}
