using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// The CRL files an operator drops into a folder, for wards without a route to the CA's distribution points. .NET on
/// Linux checks revocation "offline" only against its own download cache, keyed by each certificate's distribution
/// point URL, so the lists are read and checked here instead: a list counts for a certificate only when its signature
/// verifies with the issuing CA's key (an unsigned or forged file revokes nothing and vouches for nothing). The folder
/// is read again when a file in it is added, removed or changed.
/// </summary>
public sealed class CertificateRevocationLists
{
    private const long MaxFileBytes = 64 << 20;

    private readonly string folder;
    private readonly object reloading = new();
    private volatile Snapshot current = new([], "");

    public CertificateRevocationLists(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        this.folder = folder;
    }

    /// <summary>Raised with a file name and why it was skipped (not a CRL, too large); the other files still count.</summary>
    public event Action<string, string>? FileSkipped;

    /// <summary>
    /// Whether <paramref name="certificate"/> is revoked by a list <paramref name="issuer"/> signed; null when no such
    /// list is in the folder (revocation unknown). A list past its next update still counts: refusing every device of
    /// a ward because a file is stale would take the ward down; the stale list is visible in the expiry metric.
    /// </summary>
    public bool? IsRevoked(X509Certificate2 certificate, X509Certificate2 issuer)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(issuer);
        bool? revoked = null;
        var serial = new BigInteger(certificate.SerialNumberBytes.Span, isUnsigned: false, isBigEndian: true);
        foreach (var list in Refresh().Lists)
        {
            if (list.Issuer.AsSpan().SequenceEqual(issuer.SubjectName.RawData) && list.SignedBy(issuer))
            {
                revoked = (revoked ?? false) || list.Serials.Contains(serial);
            }
        }

        return revoked;
    }

    /// <summary>The earliest next update over the lists in the folder (null without lists or dates), for the expiry metric.</summary>
    public DateTimeOffset? EarliestNextUpdate() => Refresh().Lists.Min(l => l.NextUpdate);

    private Snapshot Refresh()
    {
        var stamp = Stamp();
        if (stamp == current.Stamp)
        {
            return current;
        }

        lock (reloading)
        {
            if (stamp != current.Stamp)
            {
                var lists = new List<RevocationList>();
                foreach (var file in Files())
                {
                    try
                    {
                        lists.AddRange(RevocationList.ReadFile(file));
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or AsnContentException or CryptographicException or InvalidDataException)
                    {
                        FileSkipped?.Invoke(Path.GetFileName(file), ex.GetType().Name);
                    }
                }

                current = new Snapshot(lists, stamp);
            }

            return current;
        }
    }

    private IEnumerable<string> Files() =>
        Directory.Exists(folder) ? Directory.EnumerateFiles(folder).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal) : [];

    private string Stamp() => string.Join('|', Files().Select(f => new FileInfo(f)).Select(i => $"{i.Name}:{i.Length}:{i.LastWriteTimeUtc.Ticks}"));

    private sealed record Snapshot(List<RevocationList> Lists, string Stamp);

    /// <summary>One X.509 CRL (RFC 5280 §5.1), read far enough to check serial numbers and verify its signature.</summary>
    private sealed class RevocationList
    {
        private readonly byte[] signed;
        private readonly string algorithm;
        private readonly byte[] signature;

        private RevocationList(ReadOnlyMemory<byte> der)
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            var outer = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            signed = outer.ReadEncodedValue().ToArray();
            algorithm = outer.ReadSequence().ReadObjectIdentifier();
            signature = outer.ReadBitString(out _);
            outer.ThrowIfNotEmpty();

            var tbs = new AsnReader(signed, AsnEncodingRules.DER).ReadSequence();
            if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
            {
                tbs.ReadInteger();
            }

            tbs.ReadSequence();
            Issuer = tbs.ReadEncodedValue().ToArray();
            ReadTime(tbs);
            if (tbs.HasData && IsTime(tbs.PeekTag()))
            {
                NextUpdate = ReadTime(tbs);
            }

            if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
            {
                var entries = tbs.ReadSequence();
                while (entries.HasData)
                {
                    Serials.Add(entries.ReadSequence().ReadInteger());
                }
            }
        }

        public byte[] Issuer { get; }

        public DateTimeOffset? NextUpdate { get; }

        public HashSet<BigInteger> Serials { get; } = [];

        /// <summary>DER or PEM (several lists in one file are fine).</summary>
        public static List<RevocationList> ReadFile(string path)
        {
            if (new FileInfo(path).Length > MaxFileBytes)
            {
                throw new InvalidDataException("too large");
            }

            var bytes = File.ReadAllBytes(path);
            if (bytes.Length > 0 && bytes[0] == 0x30)
            {
                return [new RevocationList(bytes)];
            }

            var text = System.Text.Encoding.ASCII.GetString(bytes);
            var lists = new List<RevocationList>();
            for (var rest = text.AsSpan(); PemEncoding.TryFind(rest, out var fields); rest = rest[fields.Location.End..])
            {
                if (rest[fields.Label].SequenceEqual("X509 CRL"))
                {
                    lists.Add(new RevocationList(Convert.FromBase64String(rest[fields.Base64Data].ToString())));
                }
            }

            return lists.Count > 0 ? lists : throw new InvalidDataException("no CRL");
        }

        public bool SignedBy(X509Certificate2 issuer)
        {
            var hash = algorithm switch
            {
                "1.2.840.113549.1.1.11" or "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
                "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
                "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
                _ => default,
            };
            if (hash == default)
            {
                return false;
            }

            using var rsa = issuer.GetRSAPublicKey();
            if (rsa is not null)
            {
                return algorithm.StartsWith("1.2.840.113549", StringComparison.Ordinal) && rsa.VerifyData(signed, signature, hash, RSASignaturePadding.Pkcs1);
            }

            using var ecdsa = issuer.GetECDsaPublicKey();
            return ecdsa is not null && algorithm.StartsWith("1.2.840.10045", StringComparison.Ordinal)
                && ecdsa.VerifyData(signed, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }

        private static bool IsTime(Asn1Tag tag) => tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime)) || tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.GeneralizedTime));

        private static DateTimeOffset ReadTime(AsnReader reader) =>
            reader.PeekTag().HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime)) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
    }
}
