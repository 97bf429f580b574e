using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// Decides whether a device's TLS client certificate is one the ward's device CA issued, is valid now and not revoked,
/// and which device it names. The chain is built with the CA bundle as the only trust anchors (custom root trust), so
/// the machine's roots, public CAs included, vouch for nothing here.
/// </summary>
public sealed class DeviceCertificatePolicy
{
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly ClientCertificateOptions options;
    private readonly TimeProvider time;
    private readonly X509Certificate2Collection bundle;
    private readonly X509Certificate2Collection roots;
    private readonly CertificateRevocationLists? crls;

    public DeviceCertificatePolicy(ClientCertificateOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        time = timeProvider ?? TimeProvider.System;
        bundle = LoadBundle(options.CaBundlePath ?? throw new ArgumentException("CaBundlePath is required.", nameof(options)));
        roots = new X509Certificate2Collection(bundle.Where(IsRoot).ToArray());
        crls = options.Revocation == RevocationCheck.Offline ? new CertificateRevocationLists(options.CrlFolder!) : null;
    }

    /// <summary>The revocation lists read from the CRL folder (Offline mode), else null.</summary>
    public CertificateRevocationLists? RevocationLists => crls;

    /// <summary>When the first CA in the bundle expires, for the expiry metric.</summary>
    public DateTime CaNotAfter => bundle.Min(c => c.NotAfter.ToUniversalTime());

    /// <summary>Null when the PEM bundle at <paramref name="path"/> holds at least one CA certificate, else why not.</summary>
    public static string? BundleProblem(string path)
    {
        try
        {
            LoadBundle(path);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or InvalidDataException)
        {
            return ex.Message;
        }
    }

    /// <summary>
    /// The verdict on a certificate a device presented: a refusal reason (a short code, safe for logs and metric labels)
    /// or the device id it names. <paramref name="presented"/> holds any intermediates the device sent with it; they
    /// help build the chain but are never trusted as anchors.
    /// </summary>
    public CertificateVerdict Check(X509Certificate2 certificate, X509Certificate2Collection? presented = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var now = time.GetUtcNow().UtcDateTime;
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        // Roots are the anchors; an intermediate in the bundle only helps to build the chain up to one (whether a
        // platform would stop at an intermediate in the trust store differs, so it is never put there).
        policy.CustomTrustStore.AddRange(roots);
        policy.ExtraStore.AddRange(bundle);
        if (presented is not null)
        {
            policy.ExtraStore.AddRange(presented);
        }

        policy.RevocationMode = options.Revocation == RevocationCheck.Online ? X509RevocationMode.Online : X509RevocationMode.NoCheck;
        policy.RevocationFlag = X509RevocationFlag.ExcludeRoot;
        policy.DisableCertificateDownloads = options.Revocation != RevocationCheck.Online;
        policy.UrlRetrievalTimeout = TimeSpan.FromSeconds(10);
        policy.VerificationTime = now;
        policy.ApplicationPolicy.Add(new Oid(ClientAuthentication));
        try
        {
            chain.Build(certificate);
            return Verdict(certificate, chain, now);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }

    private CertificateVerdict Verdict(X509Certificate2 certificate, X509Chain chain, DateTime now)
    {
        var statuses = chain.ChainElements.Select(e => e.ChainElementStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status)).ToList();
        var all = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (flags, s) => flags | s.Status) | statuses.Aggregate(X509ChainStatusFlags.NoError, (a, b) => a | b);
        const X509ChainStatusFlags untrusted = X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.NotSignatureValid
            | X509ChainStatusFlags.ExplicitDistrust | X509ChainStatusFlags.Cyclic;
        // Every CA above the device is one the operator listed: the bundle must hold a root, and under a hospital's root
        // other issuing CAs (staff, 802.1X, VPN) sign client certificates too; sent as intermediates, they would vouch.
        if ((all & untrusted) != 0 || !chain.ChainElements.Skip(1).All(e => bundle.Any(c => c.RawDataMemory.Span.SequenceEqual(e.Certificate.RawDataMemory.Span))))
        {
            return CertificateVerdict.Refused("untrusted_ca");
        }

        if (certificate.NotBefore.ToUniversalTime() > now)
        {
            return CertificateVerdict.Refused("not_yet_valid");
        }

        if (certificate.NotAfter.ToUniversalTime() < now)
        {
            return CertificateVerdict.Refused("expired");
        }

        if ((all & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            return CertificateVerdict.Refused("ca_not_time_valid");
        }

        if ((all & X509ChainStatusFlags.Revoked) != 0)
        {
            return CertificateVerdict.Refused("revoked");
        }

        if ((all & (X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation)) != 0)
        {
            return CertificateVerdict.Refused("revocation_unknown");
        }

        if ((all & X509ChainStatusFlags.NotValidForUsage) != 0)
        {
            return CertificateVerdict.Refused("not_for_client_auth");
        }

        if (all != X509ChainStatusFlags.NoError)
        {
            return CertificateVerdict.Refused("invalid");
        }

        if (crls is not null)
        {
            // Each certificate below the root against a list its issuer signed.
            for (var i = 0; i < chain.ChainElements.Count - 1; i++)
            {
                switch (crls.IsRevoked(chain.ChainElements[i].Certificate, chain.ChainElements[i + 1].Certificate))
                {
                    case null:
                        return CertificateVerdict.Refused("revocation_unknown");
                    case true:
                        return CertificateVerdict.Refused("revoked");
                }
            }
        }

        return Identity(certificate, options.IdentityFrom) is { } id ? CertificateVerdict.Accepted(id) : CertificateVerdict.Refused("no_identity");
    }

    /// <summary>The device id a certificate names: exactly one CN, DNS name or URI as configured; null when none or several.</summary>
    public static string? Identity(X509Certificate2 certificate, CertificateIdentity from)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        try
        {
            var names = from == CertificateIdentity.CommonName
                ? certificate.SubjectName.EnumerateRelativeDistinguishedNames()
                    .Where(n => !n.HasMultipleElements && n.GetSingleElementType().Value == "2.5.4.3")
                    .Select(n => n.GetSingleElementValue()).ToList()
                : AlternativeNames(certificate, from == CertificateIdentity.DnsSan ? 2 : 6);
            return names is [{ Length: > 0 } single] ? single : null;
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException)
        {
            // A malformed name names no device.
            return null;
        }
    }

    /// <summary>The subject alternative names of one GeneralName choice ([2] dNSName, [6] uniformResourceIdentifier).</summary>
    private static List<string?> AlternativeNames(X509Certificate2 certificate, int choice)
    {
        var names = new List<string?>();
        var tag = new Asn1Tag(TagClass.ContextSpecific, choice);
        foreach (var extension in certificate.Extensions.Where(e => e.Oid?.Value == "2.5.29.17"))
        {
            var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
            while (reader.HasData)
            {
                if (reader.PeekTag().HasSameClassAndValue(tag))
                {
                    names.Add(reader.ReadCharacterString(UniversalTagNumber.IA5String, tag));
                }
                else
                {
                    reader.ReadEncodedValue();
                }
            }
        }

        return names;
    }

    private static X509Certificate2Collection LoadBundle(string path)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection.Count == 0 ? throw new InvalidDataException($"'{path}' holds no PEM certificate.")
            : !collection.Any(IsRoot) ? throw new InvalidDataException($"'{path}' holds no root (self-signed) CA certificate; add the root above the issuing CA.")
            : collection;
    }

    private static bool IsRoot(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
}

/// <summary>A device certificate's verdict: the device id it names, or the reason it is refused.</summary>
public sealed record CertificateVerdict(string? DeviceId, string? Refusal)
{
    public static CertificateVerdict Accepted(string deviceId) => new(deviceId, null);

    public static CertificateVerdict Refused(string reason) => new(null, reason);
}
