using System.Security.Cryptography.X509Certificates;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>A hostile review of issue 19's device certificates, through the policy the broker's TLS callback asks.</summary>
public sealed class HostileReview19CertificateTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile19-certs-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// A hospital PKI: one root, a device issuing CA, and a staff CA whose certificates (802.1X, VPN) carry client
    /// authentication. The bundle must hold a root, so the operator configures the root and the device CA only, yet the
    /// root is the only anchor: a staff certificate, sent with its issuing CA as TLS clients send intermediates, logs in
    /// under whatever its CN says.
    /// </summary>
    [Fact]
    public void GivenABundleOfTheRootAndTheDeviceIssuingCa_WhenACertificateFromAnotherCaUnderTheSameRootIsPresented_ThenItIsRefused()
    {
        using var root = TestPki.CreateCa("Hospital Root CA", Now.AddDays(-30), Now.AddDays(365));
        using var devices = TestPki.CreateIntermediate(root, "Ward 7 Device CA");
        using var staff = TestPki.CreateIntermediate(root, "Hospital Staff CA");
        using var laptop = TestPki.CreateDevice(staff, "CN=monitor-1", Now.AddDays(-1), Now.AddDays(30));
        var bundle = Path.Combine(folder, "device-ca.pem");
        File.WriteAllText(bundle, root.ExportCertificatePem() + "\n" + devices.ExportCertificatePem());
        var policy = new DeviceCertificatePolicy(new ClientCertificateOptions { CaBundlePath = bundle, Revocation = RevocationCheck.NoCheck });

        using var sentIntermediate = X509CertificateLoader.LoadCertificate(staff.RawData);
        var verdict = policy.Check(laptop, [sentIntermediate]);

        Assert.Null(verdict.DeviceId);
        Assert.Equal("untrusted_ca", verdict.Refusal);
    }
}
