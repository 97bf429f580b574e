using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// Who a connecting device is: the device its certificate names (checked at the TLS handshake by
/// <see cref="DeviceCertificatePolicy"/>), else the user its password proves (<see cref="MosquittoPasswordFile"/>), else
/// anonymous where that is allowed. Credentials that do not verify are refused, never treated as anonymous.
/// Log lines carry a reason code, the certificate's SHA-256 and, for a certificate the device CA issued, the device it
/// names (device ids are not patient data, and an operator needs them to renew or replace a certificate); never a
/// user name or client id the peer sent, which may hold anything (a mistyped password, megabytes).
/// </summary>
public sealed partial class DeviceAuthenticator : IDisposable
{
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly MosquittoPasswordFile? passwords;
    private readonly DeviceCertificatePolicy? certificates;
    private readonly bool allowAnonymous;
    private readonly CertificateIdentity identityFrom;
    private readonly Meter meter = new(IngestMetrics.MeterName);
    private readonly Counter<long> refused;

    public DeviceAuthenticator(MqttIngestOptions options, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.logger = logger;
        time = timeProvider ?? TimeProvider.System;
        allowAnonymous = options.AllowAnonymous;
        identityFrom = options.ClientCertificates.IdentityFrom;
        if (options.PasswordFile is { } path)
        {
            passwords = MosquittoPasswordFile.Load(path);
            passwords.ReloadFailed += _ => Log.PasswordFileNotReloaded(logger);
        }

        if (options.RequireClientCertificate)
        {
            certificates = new DeviceCertificatePolicy(options.ClientCertificates, time);
            if (certificates.RevocationLists is { } lists)
            {
                lists.FileSkipped += (file, error) => Log.CrlSkipped(logger, file, error);
            }
        }

        refused = meter.CreateCounter<long>("devices.auth_refused", description: "Device logins refused, by reason (TLS handshake or CONNECT).");
        var server = options.TlsPort != 0 && options.CertificatePath is { } pfx ? ServerNotAfter(pfx, options.CertificatePassword) : (DateTime?)null;
        meter.CreateObservableGauge("certificate.days_left", () => DaysLeft(server),
            description: "Days until the gateway's TLS certificate (server), the first device CA (device_ca) or the first CRL's next update (device_crl) expire.");
    }

    /// <summary>The TLS handshake's check of a device certificate; a refused certificate ends the handshake.</summary>
    public bool ValidateTlsCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificates is null)
        {
            return errors == SslPolicyErrors.None;
        }

        if (certificate is null)
        {
            Refuse("no_certificate");
            return false;
        }

        // The handshake's own chain ends at the machine's roots; only the intermediates the device sent are taken from it.
        var typed = certificate as X509Certificate2;
        using var copy = typed is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        var leaf = typed ?? copy!;
        CertificateVerdict verdict;
        try
        {
            verdict = certificates.Check(leaf, chain?.ChainPolicy.ExtraStore);
        }
        catch (Exception ex) when (ex is CryptographicException or System.Formats.Asn1.AsnContentException or ArgumentException)
        {
            // A certificate the platform cannot even build a chain for is refused like any other, not a failed handshake.
            verdict = CertificateVerdict.Refused("invalid");
            Log.CertificateUnreadable(logger, ex.GetType().Name);
        }

        if (verdict.Refusal is { } reason)
        {
            refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
            // Only a certificate the device CA signed names a device worth logging.
            var named = reason == "untrusted_ca" ? null : DeviceCertificatePolicy.Identity(leaf, identityFrom);
            Log.CertificateRefused(logger, reason, named ?? "(not shown)", Convert.ToHexString(SHA256.HashData(leaf.RawData)));
            return false;
        }

        return true;
    }

    /// <summary>
    /// The device a CONNECT proves (null: anonymous), or the reason code to refuse it with. <paramref name="certificate"/>
    /// is the one that passed <see cref="ValidateTlsCertificate"/>, if any.
    /// </summary>
    public DeviceLogin Authenticate(string? userName, byte[]? password, X509Certificate2? certificate)
    {
        if (certificate is not null && certificates is not null)
        {
            return DeviceCertificatePolicy.Identity(certificate, identityFrom) is { } id
                ? new DeviceLogin(id, ViaCertificate: true)
                : Refuse("no_identity", MqttConnectReasonCode.NotAuthorized);
        }

        if (!string.IsNullOrEmpty(userName) || password is { Length: > 0 })
        {
            return passwords?.Verify(userName, password) == true
                ? new DeviceLogin(userName, ViaCertificate: false)
                : Refuse("bad_credentials", MqttConnectReasonCode.BadUserNameOrPassword);
        }

        return allowAnonymous ? new DeviceLogin(null, ViaCertificate: false) : Refuse("no_credentials", MqttConnectReasonCode.BadUserNameOrPassword);
    }

    /// <summary>Whether <paramref name="clientId"/> is a device of the password file (an anonymous client may not use it).</summary>
    public bool IsRegistered(string clientId) => passwords?.Contains(clientId) == true;

    /// <summary>Counts and logs an anonymous CONNECT under a device's client id (the id is not logged: the peer chose it).</summary>
    public void AnonymousTakesDeviceId() => _ = Refuse("anonymous_device_id", MqttConnectReasonCode.ClientIdentifierNotValid);

    /// <summary>Counts and logs a client id that is not the id the device proved (the proved id only: it is a known device).</summary>
    public void IdMismatch(DeviceLogin login)
    {
        ArgumentNullException.ThrowIfNull(login);
        refused.Add(1, new KeyValuePair<string, object?>("reason", "id_mismatch"));
        Log.IdMismatch(logger, login.ViaCertificate ? "certificate" : "password", login.DeviceId ?? "");
    }

    public void Dispose() => meter.Dispose();

    private DeviceLogin Refuse(string reason, MqttConnectReasonCode code = MqttConnectReasonCode.NotAuthorized)
    {
        refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
        Log.LoginRefused(logger, reason);
        return new DeviceLogin(null, false, code);
    }

    private IEnumerable<Measurement<double>> DaysLeft(DateTime? server)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (server is { } notAfter)
        {
            yield return new((notAfter - now).TotalDays, new KeyValuePair<string, object?>("certificate", "server"));
        }

        if (certificates is not null)
        {
            yield return new((certificates.CaNotAfter - now).TotalDays, new KeyValuePair<string, object?>("certificate", "device_ca"));
            if (certificates.RevocationLists?.EarliestNextUpdate() is { } next)
            {
                yield return new((next.UtcDateTime - now).TotalDays, new KeyValuePair<string, object?>("certificate", "device_crl"));
            }
        }
    }

    private static DateTime ServerNotAfter(string path, string? password)
    {
        using var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, password);
        return certificate.NotAfter.ToUniversalTime();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "Device certificate refused at the TLS handshake: {Reason} (device {Device}, certificate SHA-256 {Sha256}).")]
        public static partial void CertificateRefused(ILogger logger, string reason, string device, string sha256);

        [LoggerMessage(EventId = 1016, Level = LogLevel.Warning, Message = "Device certificate could not be checked ({Error}).")]
        public static partial void CertificateUnreadable(ILogger logger, string error);

        [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "MQTT CONNECT refused: {Reason}.")]
        public static partial void LoginRefused(ILogger logger, string reason);

        [LoggerMessage(EventId = 1013, Level = LogLevel.Warning, Message = "MQTT CONNECT refused: the client id is not the device the {Proof} proves ({Device}).")]
        public static partial void IdMismatch(ILogger logger, string proof, string device);

        [LoggerMessage(EventId = 1014, Level = LogLevel.Error, Message = "The changed device password file cannot be read; the previous one stays in force until it is fixed.")]
        public static partial void PasswordFileNotReloaded(ILogger logger);

        [LoggerMessage(EventId = 1015, Level = LogLevel.Error, Message = "CRL file {File} skipped ({Error}); certificates whose issuer has no other list there are refused as revocation_unknown.")]
        public static partial void CrlSkipped(ILogger logger, string file, string error);
    }
}

/// <summary>The outcome of a CONNECT's authentication: the device proved (null: anonymous), or a refusal code.</summary>
public sealed record DeviceLogin(string? DeviceId, bool ViaCertificate, MqttConnectReasonCode Refusal = MqttConnectReasonCode.Success)
{
    public bool Refused => Refusal != MqttConnectReasonCode.Success;
}
