using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MedTech.Edge.Testing;
using MQTTnet.Formatter;
using static MedTech.Edge.Mqtt.Tests.BrokerHarness;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>Device certificates on the real embedded broker's TLS port, made here with CertificateRequest (nothing committed).</summary>
[Collection(EmbeddedBrokerTestGroup.Name)]
public sealed class DeviceCertificateTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-certificates-").FullName;
    private readonly string crls;
    private readonly X509Certificate2 ca = TestPki.CreateCa("Ward 7 Device CA", Now.AddDays(-30), Now.AddDays(365));
    private readonly X509Certificate2 otherCa = TestPki.CreateCa("Ward 7 Device CA", Now.AddDays(-30), Now.AddDays(365));

    public DeviceCertificateTests()
    {
        crls = Directory.CreateDirectory(Path.Combine(folder, "crl")).FullName;
    }

    public void Dispose()
    {
        ca.Dispose();
        otherCa.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task GivenACertificateFromTheDeviceCa_WhenTheDeviceConnectsAsItsCn_ThenItsPublishIsAcknowledgedAndStoredUnderThatId(MqttProtocolVersion version)
    {
        using var device = TestPki.CreateDevice(ca, "CN=monitor-1, O=Ward 7", Now.AddDays(-1), Now.AddDays(30));
        WriteCrl(ca);
        await using var broker = await StartAsync();

        using var client = await broker.ConnectAsync("monitor-1", certificate: device, version: version);
        var result = await client.PublishAsync(Message("devices/monitor-1/v", "{\"hr\":72}"));

        Assert.True(result.IsSuccess);
        Assert.Equal(("monitor-1", "{\"hr\":72}"), Assert.Single(broker.Stored()) is var m ? (m.ClientId, Encoding.UTF8.GetString(m.Payload.Span)) : default);
        Assert.Empty(broker.Refusals);
    }

    public static TheoryData<string> Refused() => ["untrusted_ca", "expired", "not_yet_valid", "revoked", "revocation_unknown", "not_for_client_auth"];

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task GivenABadDeviceCertificate_WhenTheDeviceConnects_ThenTheHandshakeIsRefusedWithAClearReasonAndNothingIsStored(string reason)
    {
        using var device = reason switch
        {
            // The other CA has the same name as the device CA: only its key tells it apart.
            "untrusted_ca" => TestPki.CreateDevice(otherCa, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30)),
            "expired" => TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-20), Now.AddMinutes(-1)),
            "not_yet_valid" => TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddHours(1), Now.AddDays(30)),
            "not_for_client_auth" => TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30), usage: "1.3.6.1.5.5.7.3.1"),
            _ => TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30)),
        };
        if (reason == "revoked")
        {
            WriteCrl(ca, device);
        }
        else if (reason == "revocation_unknown")
        {
            // A list that revokes nothing, but signed by another key under the CA's name: it vouches for nothing.
            WriteCrl(otherCa);
        }
        else
        {
            WriteCrl(ca);
        }

        await using var broker = await StartAsync();

        await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync("monitor-1", certificate: device));

        Assert.Equal([reason], broker.Refusals);
        Assert.Empty(broker.Stored());
        var line = Assert.Single(broker.Log.Lines, l => l.Contains("Device certificate refused", StringComparison.Ordinal));
        Assert.Contains(reason, line);
        Assert.Contains(Convert.ToHexString(SHA256.HashData(device.RawData)), line);
        // A certificate the device CA did not sign names no device in the log.
        Assert.Equal(reason != "untrusted_ca", line.Contains("monitor-1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task GivenAGoodCertificate_WhenTheClientIdIsNotItsCn_ThenTheConnectIsRefusedAndOnlyTheCertificatesDeviceIsLogged(MqttProtocolVersion version)
    {
        using var device = TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30));
        WriteCrl(ca);
        await using var broker = await StartAsync();

        var refusal = await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync("monitor-2", certificate: device, version: version));

        if (version == MqttProtocolVersion.V500)
        {
            Assert.Contains("NotAuthorized", refusal.Message);
        }

        Assert.Equal(["id_mismatch"], broker.Refusals);
        Assert.Contains(broker.Log.Lines, l => l.Contains("client id is not the device the certificate proves (monitor-1)", StringComparison.Ordinal));
        Assert.DoesNotContain(broker.Log.Lines, l => l.Contains("monitor-2", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(CertificateIdentity.DnsSan, "monitor-7.ward7.example", true)]
    [InlineData(CertificateIdentity.UriSan, "urn:medtech:device:monitor-7", true)]
    [InlineData(CertificateIdentity.DnsSan, "monitor-7", false)]
    [InlineData(CertificateIdentity.CommonName, "urn:medtech:device:monitor-7", false)]
    public async Task GivenTheIdentityComesFromASan_WhenTheDeviceConnects_ThenOnlyThatNameIsItsClientId(CertificateIdentity from, string clientId, bool accepted)
    {
        using var device = TestPki.CreateDevice(ca, "CN=monitor-7", Now.AddDays(-1), Now.AddDays(30), san: builder =>
        {
            builder.AddDnsName("monitor-7.ward7.example");
            builder.AddUri(new Uri("urn:medtech:device:monitor-7"));
        });
        WriteCrl(ca);
        await using var broker = await StartAsync(o => o.ClientCertificates.IdentityFrom = from);

        var connect = broker.ConnectAsync(clientId, certificate: device);

        if (accepted)
        {
            using var client = await connect;
            Assert.True((await client.PublishAsync(Message("v", "x"))).IsSuccess);
            Assert.Equal(clientId, Assert.Single(broker.Stored()).ClientId);
        }
        else
        {
            await Assert.ThrowsAnyAsync<Exception>(() => connect);
            Assert.Equal(["id_mismatch"], broker.Refusals);
        }
    }

    [Fact]
    public async Task GivenARunningBroker_WhenTheOperatorDropsInACrlRevokingADevice_ThenItsNextConnectionIsRefused()
    {
        using var device = TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30));
        WriteCrl(ca);
        await using var broker = await StartAsync();
        using (await broker.ConnectAsync("monitor-1", certificate: device))
        {
        }

        WriteCrl(ca, device);

        await Assert.ThrowsAnyAsync<Exception>(() => broker.ConnectAsync("monitor-1", certificate: device));
        Assert.Equal(["revoked"], broker.Refusals);
    }

    [Theory]
    [InlineData("revokes nothing", null)]
    [InlineData("revokes the device", "revoked")]
    [InlineData("is unreachable", "revocation_unknown")]
    public async Task GivenOnlineRevocation_WhenTheDeviceCertificatesDistributionPointIsAsked_ThenItsAnswerDecides(string crl, string? reason)
    {
        // A fresh URL per run: .NET keeps downloaded CRLs in a cache of its own, keyed by URL.
        using var http = new System.Net.HttpListener();
        var port = Ports.Free();
        http.Prefixes.Add($"http://127.0.0.1:{port}/");
        var url = $"http://127.0.0.1:{(crl == "is unreachable" ? Ports.Free() : port)}/{Guid.NewGuid():N}.crl";
        using var device = TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30), crlUrl: url);
        var builder = new CertificateRevocationListBuilder();
        if (reason == "revoked")
        {
            builder.AddEntry(device, Now.AddMinutes(-1));
        }

        var list = builder.Build(ca, BigInteger.One, Now.AddDays(7), HashAlgorithmName.SHA256, thisUpdate: Now.AddMinutes(-1));
        http.Start();
        var serving = Task.Run(async () =>
        {
            while (http.IsListening)
            {
                var context = await http.GetContextAsync();
                context.Response.ContentType = "application/pkix-crl";
                await context.Response.OutputStream.WriteAsync(list);
                context.Response.Close();
            }
        });
        await using var broker = await StartAsync(o => o.ClientCertificates.Revocation = RevocationCheck.Online);

        var connect = broker.ConnectAsync("monitor-1", certificate: device);

        if (reason is null)
        {
            using var client = await connect;
            Assert.Empty(broker.Refusals);
        }
        else
        {
            await Assert.ThrowsAnyAsync<Exception>(() => connect);
            Assert.Equal([reason], broker.Refusals);
        }

        // Stopping ends the serving loop's wait with an exception, which is all it can end with.
        http.Stop();
        await serving.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task GivenJunkBesideTheCrlInTheFolder_WhenADeviceConnects_ThenTheJunkIsSkippedAndLoggedAndTheCrlStillCounts()
    {
        using var device = TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30));
        WriteCrl(ca);
        await File.WriteAllBytesAsync(Path.Combine(crls, "junk.crl"), [0x30, 0x82, 0xff, 0xff, 0x00]);
        await File.WriteAllTextAsync(Path.Combine(crls, "readme.txt"), "CRLs of ward 7\0" + new string('x', 100_000));
        await using var broker = await StartAsync();

        using var client = await broker.ConnectAsync("monitor-1", certificate: device);

        Assert.Empty(broker.Refusals);
        Assert.Contains(broker.Log.Lines, l => l.Contains("CRL file junk.crl skipped", StringComparison.Ordinal));
        Assert.Contains(broker.Log.Lines, l => l.Contains("CRL file readme.txt skipped", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true, true, null)]
    [InlineData(false, true, "revocation_unknown")]
    [InlineData(true, false, "revocation_unknown")]
    public async Task GivenAnIssuingCaUnderTheRoot_WhenADeviceConnects_ThenBothCasListsAreNeededOffline(bool rootList, bool issuingList, string? reason)
    {
        using var issuing = TestPki.CreateIntermediate(ca, "Ward 7 Issuing CA");
        using var device = TestPki.CreateDevice(issuing, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30));
        if (rootList)
        {
            WriteCrl(ca);
        }

        if (issuingList)
        {
            WriteCrl(issuing, file: "issuing.crl");
        }

        await using var broker = await StartAsync(bundle: [ca, issuing]);

        var connect = broker.ConnectAsync("monitor-1", certificate: device);

        if (reason is null)
        {
            using var client = await connect;
            Assert.Empty(broker.Refusals);
        }
        else
        {
            await Assert.ThrowsAnyAsync<Exception>(() => connect);
            Assert.Equal([reason], broker.Refusals);
        }
    }

    [Fact]
    public async Task GivenNoRevocationCheck_WhenADeviceWithoutACrlConnects_ThenItIsAccepted()
    {
        using var device = TestPki.CreateDevice(ca, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30));
        await using var broker = await StartAsync(o => o.ClientCertificates.Revocation = RevocationCheck.NoCheck);

        using var client = await broker.ConnectAsync("monitor-1", certificate: device);

        Assert.True((await client.PublishAsync(Message("v", "x"))).IsSuccess);
    }

    [Fact]
    public async Task GivenTheTlsPortRequiresCertificates_WhenADeviceSendsNoneButAPassword_ThenTheHandshakeIsRefused()
    {
        WriteCrl(ca);
        await using var broker = await StartAsync();
        using var client = new MQTTnet.MqttClientFactory().CreateMqttClient();

        await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(new MQTTnet.MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Options.TlsPort)
            .WithClientId("monitor-1").WithCredentials("monitor-1", "pw").WithTimeout(TimeSpan.FromSeconds(5))
            .WithTlsOptions(tls => tls.UseTls().WithCertificateValidationHandler(_ => true)).Build()));

        Assert.Equal(["no_certificate"], broker.Refusals);
        Assert.Empty(broker.Stored());
    }

    [Fact]
    public async Task GivenCertificates_WhenTheExpiryGaugeIsRead_ThenItGivesTheDaysLeftOnTheServerCertificateTheDeviceCaAndTheCrl()
    {
        WriteCrl(ca, nextUpdate: Now.AddDays(7));
        await using var broker = await StartAsync();

        var days = broker.DaysLeft();

        Assert.Equal(["device_ca", "device_crl", "server"], days.Keys.Order());
        Assert.InRange(days["server"], 29.9, 30);
        Assert.InRange(days["device_ca"], 364.9, 365);
        Assert.InRange(days["device_crl"], 6.9, 7);
    }

    [Theory]
    [InlineData(null, RevocationCheck.NoCheck, "CaBundlePath is required")]
    [InlineData("bundle", RevocationCheck.Offline, "CrlFolder is not an existing folder")]
    [InlineData("empty", RevocationCheck.NoCheck, "holds no PEM certificate")]
    [InlineData("intermediate", RevocationCheck.NoCheck, "holds no root")]
    public void GivenRequiredClientCertificates_WhenTheCaBundleOrCrlFolderIsMissing_ThenTheStartIsRefused(string? bundle, RevocationCheck revocation, string expected)
    {
        File.WriteAllText(Path.Combine(folder, "bundle"), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder, "empty"), "not a certificate");
        using (var issuing = TestPki.CreateIntermediate(ca, "Ward 7 Issuing CA"))
        {
            File.WriteAllText(Path.Combine(folder, "intermediate"), issuing.ExportCertificatePem());
        }

        var options = new MqttIngestOptions
        {
            Port = 0,
            TlsPort = 8884,
            CertificatePath = "/dev/null",
            RequireClientCertificate = true,
            ClientCertificates = { CaBundlePath = bundle is null ? null : Path.Combine(folder, bundle), Revocation = revocation },
        };

        Assert.Contains(options.Validate(), e => e.Contains(expected, StringComparison.Ordinal));
    }

    private async Task<BrokerHarness> StartAsync(Action<MqttIngestOptions>? configure = null, X509Certificate2[]? bundle = null)
    {
        var bundlePath = Path.Combine(folder, "device-ca.pem");
        await File.WriteAllTextAsync(bundlePath, string.Join('\n', (bundle ?? [ca]).Select(c => c.ExportCertificatePem())));
        var pfx = Path.Combine(folder, "broker.pfx");
        using (var server = TestPki.CreateServer(Now.AddDays(30)))
        {
            await File.WriteAllBytesAsync(pfx, server.Export(X509ContentType.Pfx, "test"));
        }

        var options = new MqttIngestOptions
        {
            Port = 0,
            TlsPort = Ports.Free(),
            CertificatePath = pfx,
            CertificatePassword = "test",
            RequireClientCertificate = true,
            ClientCertificates = { CaBundlePath = bundlePath, CrlFolder = crls },
        };
        configure?.Invoke(options);
        Assert.Empty(options.Validate());
        return await BrokerHarness.StartAsync(options, folder);
    }

    /// <summary>The CA's CRL in the folder (replacing the previous one), revoking <paramref name="revoked"/>.</summary>
    private void WriteCrl(X509Certificate2 issuer, X509Certificate2? revoked = null, DateTimeOffset? nextUpdate = null, string file = "ward7.crl")
    {
        var builder = new CertificateRevocationListBuilder();
        if (revoked is not null)
        {
            builder.AddEntry(revoked, Now.AddMinutes(-1));
        }

        var crl = builder.Build(issuer, BigInteger.One, nextUpdate ?? Now.AddDays(7), HashAlgorithmName.SHA256, thisUpdate: Now.AddMinutes(-1));
        File.WriteAllText(Path.Combine(crls, file), PemEncoding.WriteString("X509 CRL", crl));
    }
}

/// <summary>Test-only certificates, generated per run; private keys never leave the test process.</summary>
internal static class TestPki
{
    public static X509Certificate2 CreateCa(string name, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>An issuing CA under <paramref name="root"/>, as wards run them (the root kept offline).</summary>
    public static X509Certificate2 CreateIntermediate(X509Certificate2 root, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7f;
        using var issued = request.Create(root, root.NotBefore.AddDays(1), root.NotAfter.AddDays(-1), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null);
    }

    public static X509Certificate2 CreateDevice(X509Certificate2 ca, string subject, DateTimeOffset notBefore, DateTimeOffset notAfter,
        string usage = "1.3.6.1.5.5.7.3.2", Action<SubjectAlternativeNameBuilder>? san = null, string? crlUrl = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (crlUrl is not null)
        {
            request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([crlUrl]));
        }

        if (san is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            san(names);
            request.CertificateExtensions.Add(names.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(ca, notBefore, notAfter, serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null);
    }

    public static X509Certificate2 CreateServer(DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), notAfter);
    }
}
