using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MedTech.Edge.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Server;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The device port under a bare MQTTnet server: what it hands MQTTnet from the TLS handshake.</summary>
public sealed class DevicePortAdapterTests
{
    [Fact]
    public async Task GivenAServerCertificateValidationCallback_WhenADevicePresentsACertificate_ThenTheCallbackDecidesAndMqttnetSeesTheCertificate()
    {
        using var serverKey = RSA.Create(2048);
        using var serverCertificate = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var deviceKey = RSA.Create(2048);
        using var deviceCertificate = new CertificateRequest("CN=monitor-1", deviceKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var serverWithKey = X509CertificateLoader.LoadPkcs12(serverCertificate.Export(X509ContentType.Pfx), null);
        var port = Ports.Free();
        string? seenByCallback = null;
        string? seenByMqttnet = null;

        // As the certificate checks do: MQTTnet's validation callback, here accepting what chains to nothing.
        var options = new MqttServerFactory().CreateServerOptionsBuilder().WithoutDefaultEndpoint().WithEncryptedEndpoint().WithEncryptedEndpointPort(port)
            .WithEncryptedEndpointBoundIPAddress(IPAddress.Loopback).WithEncryptedEndpointBoundIPV6Address(IPAddress.None).WithEncryptionCertificate(serverWithKey)
            .WithClientCertificate((_, certificate, _, errors) =>
            {
                seenByCallback = certificate?.GetCertHashString();
                return errors is SslPolicyErrors.None or SslPolicyErrors.RemoteCertificateChainErrors;
            }, true).Build();
        using var metrics = new IngestMetrics();
        using var server = new MqttServerFactory().CreateMqttServer(options, [new DevicePortAdapter(new DevicePortOptions(), 1024, metrics, NullLogger.Instance)]);
        server.ValidatingConnectionAsync += e =>
        {
            seenByMqttnet = e.ClientCertificate?.GetCertHashString();
            return Task.CompletedTask;
        };
        await server.StartAsync();
        try
        {
            using var client = new MqttClientFactory().CreateMqttClient();
            var result = await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("monitor-1")
                .WithTlsOptions(tls => tls.UseTls().WithClientCertificates([deviceCertificate]).WithCertificateValidationHandler(_ => true)).Build());

            Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
            Assert.Equal(deviceCertificate.GetCertHashString(), seenByCallback);
            Assert.Equal(deviceCertificate.GetCertHashString(), seenByMqttnet);
        }
        finally
        {
            await server.StopAsync();
        }
    }
}
