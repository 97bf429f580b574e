namespace MedTech.Edge.Mqtt;

/// <summary>
/// How device certificates are checked (section <c>Mqtt:ClientCertificates</c>, used when
/// <see cref="MqttIngestOptions.RequireClientCertificate"/> is on). Trust comes from the CA bundle alone, never the
/// machine's roots: a public CA must not be able to vouch for a bedside device.
/// </summary>
public sealed class ClientCertificateOptions
{
    /// <summary>PEM file with the CA certificate(s) that issue device certificates: the root, and any intermediates.</summary>
    public string? CaBundlePath { get; set; }

    /// <summary>Where the device id comes from; it must equal the MQTT client id.</summary>
    public CertificateIdentity IdentityFrom { get; set; } = CertificateIdentity.CommonName;

    /// <summary>Default <c>Offline</c>, which needs <see cref="CrlFolder"/>: the operator chooses revocation explicitly.</summary>
    public RevocationCheck Revocation { get; set; } = RevocationCheck.Offline;

    /// <summary>Folder of CRL files (DER or PEM), one per issuing CA, refreshed by the operator; read again when it changes.</summary>
    public string? CrlFolder { get; set; }

    internal void Validate(List<string> errors, string section)
    {
        if (string.IsNullOrWhiteSpace(CaBundlePath))
        {
            errors.Add($"{section}:CaBundlePath is required with {MqttIngestOptions.SectionName}:RequireClientCertificate (device certificates are trusted only through it, never through the machine's roots).");
        }
        else if (DeviceCertificatePolicy.BundleProblem(CaBundlePath) is { } problem)
        {
            errors.Add($"{section}:CaBundlePath: {problem}");
        }

        if (Revocation == RevocationCheck.Offline && (string.IsNullOrWhiteSpace(CrlFolder) || !Directory.Exists(CrlFolder)))
        {
            errors.Add($"{section}:Revocation is Offline (the default) and {section}:CrlFolder is not an existing folder; give the folder of CRL files, or set Revocation to Online or NoCheck.");
        }

        if (!Enum.IsDefined(IdentityFrom) || !Enum.IsDefined(Revocation))
        {
            errors.Add($"{section}:IdentityFrom must be CommonName, DnsSan or UriSan, and {section}:Revocation Online, Offline or NoCheck.");
        }
    }
}

/// <summary>The part of a device certificate that names the device.</summary>
public enum CertificateIdentity
{
    /// <summary>The subject's single CN.</summary>
    CommonName,

    /// <summary>The single DNS name in the subject alternative names.</summary>
    DnsSan,

    /// <summary>The single URI in the subject alternative names.</summary>
    UriSan,
}

/// <summary>How a device certificate's revocation is checked.</summary>
public enum RevocationCheck
{
    /// <summary>CRL files in <see cref="ClientCertificateOptions.CrlFolder"/>; a certificate whose issuer has no list there is refused.</summary>
    Offline,

    /// <summary>The distribution points named in the certificates (the gateway needs a route to them); unknown status is refused.</summary>
    Online,

    /// <summary>No check; for a CA that never revokes.</summary>
    NoCheck,
}
