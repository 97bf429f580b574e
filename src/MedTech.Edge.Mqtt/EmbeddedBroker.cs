using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// The gateway's own MQTT broker (MQTTnet.Server): every QoS 0/1 publish is stored in the inbox, and a QoS 1 publish
/// is acknowledged only after its commit reached the disk (MQTTnet sends the PUBACK when the interceptor returns).
/// When the buffer refuses a message the connection is closed without a PUBACK, so the device sends it again. A
/// publish the gateway will never take (oversized, another device's topic) gets a negative PUBACK on MQTT 5; MQTT 3.1.1
/// has no negative PUBACK (MQTTnet would send a plain one, which the device reads as stored), so there the connection
/// is closed without one. A device over its quota (<see cref="DeviceQuota"/>: publish rate, share of the buffer) is
/// refused the same way (MQTT 5: QuotaExceeded). Each stored message records whether its client logged in with a
/// password or certificate (<see cref="InboxMessage.Authenticated"/>), which binds its readings to that identity.
/// </summary>
public sealed partial class EmbeddedBroker : IMqttIngest, IAsyncDisposable
{
    private readonly MqttIngestOptions options;
    private readonly IInbox inbox;
    private readonly IngestMetrics metrics;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly MqttServer server;
    private readonly ModuleHealth? health;
    private readonly DeviceQuota? quota;
    private readonly DeviceAuthenticator authenticator;

    // The protocol of each connected client, by client id (the newest connection of an id wins, as in MQTTnet's sessions).
    private readonly ConcurrentDictionary<string, MqttProtocolVersion> protocols = new(StringComparer.Ordinal);

    // Whether each connected client id logged in with a device password or a client certificate (else anonymous).
    private readonly ConcurrentDictionary<string, bool> authenticated = new(StringComparer.Ordinal);
    private int stopped;
    private int disposed;
    private volatile bool storeFailing;

    public EmbeddedBroker(MqttIngestOptions options, IInbox inbox, IngestMetrics metrics, ILogger<EmbeddedBroker> logger, TimeProvider? timeProvider = null, ModuleHealth? health = null,
        DeviceQuota? quota = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.quota = quota;
        this.inbox = inbox;
        this.metrics = metrics;
        this.logger = logger;
        this.health = health;
        time = timeProvider ?? TimeProvider.System;
        authenticator = new DeviceAuthenticator(options, logger, time);
        // Our listeners instead of MQTTnet's: they enforce the device port's limits before MQTTnet reads a packet.
        server = new MqttServerFactory().CreateMqttServer(ServerOptions(options, authenticator), [new DevicePortAdapter(options.DevicePort, options.MaxMessageBytes, metrics, logger, time)]);
        server.ValidatingConnectionAsync += ValidateConnectionAsync;
        server.InterceptingPublishAsync += StorePublishAsync;
        server.ClientDisconnectedAsync += ForgetClientAsync;
    }

    public string Name => "mqtt";

    public bool IsListening => server.IsStarted && Volatile.Read(ref stopped) == 0;

    public async Task StartAsync()
    {
        await server.StartAsync().ConfigureAwait(false);
        if (options.AllowAnonymous)
        {
            Log.StartedAnonymous(logger, options.Port, options.TlsPort, options.PasswordFile is not null || options.RequireClientCertificate
                ? "bound only for devices that log in; anonymous clients are accepted and not bound"
                : "not bound: anonymous clients are accepted and may report any device id");
        }
        else
        {
            Log.Started(logger, options.Port, options.TlsPort);
        }
    }

    /// <summary>Stops accepting and closes every connection; safe to call more than once (MQTTnet's own stop is not).</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) == 0 && server.IsStarted)
        {
            await server.StopAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Registered as IMqttIngest and as IIngestSource, the one instance is disposed by the container once per registration.
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        server.Dispose();
        authenticator.Dispose();
    }

    private static MqttServerOptions ServerOptions(MqttIngestOptions options, DeviceAuthenticator authenticator)
    {
        var builder = new MqttServerFactory().CreateServerOptionsBuilder()
            .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
            .WithPersistentSessions(true);
        if (options.Port != 0)
        {
            builder = builder.WithDefaultEndpoint().WithDefaultEndpointPort(options.Port).WithDefaultEndpointBoundIPAddress(IPAddress.Parse(options.BindAddress));
        }
        else
        {
            builder = builder.WithoutDefaultEndpoint();
        }

        if (options.TlsPort != 0)
        {
            var certificate = X509CertificateLoader.LoadPkcs12FromFile(options.CertificatePath!, options.CertificatePassword);
            builder = builder.WithEncryptedEndpoint().WithEncryptedEndpointPort(options.TlsPort)
                .WithEncryptedEndpointBoundIPAddress(IPAddress.Parse(options.BindAddress))
                .WithEncryptedEndpointBoundIPV6Address(IPAddress.None)
                .WithEncryptionCertificate(certificate);
            if (options.RequireClientCertificate)
            {
                // Only with a callback: MQTTnet.Server 5.2.0.1603 breaks every TLS connection when it is given none.
                builder = builder.WithClientCertificate(authenticator.ValidateTlsCertificate, true);
            }
        }

        return builder.Build();
    }

    private Task ValidateConnectionAsync(ValidatingConnectionEventArgs e)
    {
        // Who the device proved to be (certificate, else password, else anonymous); a failed proof is refused, not anonymous.
        var login = authenticator.Authenticate(e.UserName, e.RawPassword, e.ClientCertificate);
        var clientId = e.ClientId;
        if (string.IsNullOrEmpty(clientId) && AssignClientId(e, login.DeviceId) is { } assigned)
        {
            clientId = assigned;
        }

        if (login.Refused)
        {
            e.ReasonCode = login.Refusal;
        }
        else if (string.IsNullOrEmpty(clientId))
        {
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
        }
        else if (login.DeviceId is { } device && clientId != device)
        {
            authenticator.IdMismatch(login);
            e.ReasonCode = login.ViaCertificate ? MqttConnectReasonCode.NotAuthorized : MqttConnectReasonCode.ClientIdentifierNotValid;
        }
        else if (login.DeviceId is null && (authenticator.IsRegistered(clientId) || (authenticated.TryGetValue(clientId, out var bound) && bound)))
        {
            // An anonymous client may not take a device's id: MQTTnet would hand it the device's session (the monitor is
            // disconnected) and, until the takeover, store the monitor's own publishes as unbound.
            authenticator.AnonymousTakesDeviceId();
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
        }

        if (e.ReasonCode != MqttConnectReasonCode.Success)
        {
            Log.ConnectionRefused(logger, e.ReasonCode);
        }
        else
        {
            protocols[clientId] = e.ProtocolVersion;
            authenticated[clientId] = login.DeviceId is not null;
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// A client id for a client that sent none, where MQTT allows the server to assign one: MQTT 5 (the assigned client
    /// identifier property) and MQTT 3.1.1 with a clean session (§3.1.3.1). An authenticated device gets the id it proved
    /// (its client id must equal it anyway); an anonymous one a fresh unique id. Null where the client id stays empty.
    /// </summary>
    private static string? AssignClientId(ValidatingConnectionEventArgs e, string? device)
    {
        var assigned = device ?? "auto-" + Guid.NewGuid().ToString("N");
        if (e.ProtocolVersion == MqttProtocolVersion.V500)
        {
            // MQTTnet takes it as the session's client id after this handler and sends it in the CONNACK.
            e.AssignedClientIdentifier = assigned;
            return assigned;
        }

        if (e.CleanSession == true && ConnectPacketField?.GetValue(e) is MqttConnectPacket packet)
        {
            // MQTTnet.Server 5.2 assigns ids only for MQTT 5 and offers no setter for 3.1.1: the connect packet it
            // validates next is the one this event reads, so its client id is set there (pinned by a test with
            // Debian's mosquitto_pub -V mqttv311).
            packet.ClientId = assigned;
            return assigned;
        }

        return null;
    }

    private static readonly FieldInfo? ConnectPacketField =
        typeof(ValidatingConnectionEventArgs).GetField("_connectPacket", BindingFlags.Instance | BindingFlags.NonPublic);

    private Task ForgetClientAsync(ClientDisconnectedEventArgs e)
    {
        // A takeover's new connection has already recorded its protocol under the same id.
        if (e.DisconnectType != MqttClientDisconnectType.Takeover && e.ClientId is { } clientId)
        {
            protocols.TryRemove(clientId, out _);
            authenticated.TryRemove(clientId, out _);
        }

        return Task.CompletedTask;
    }

    private async Task StorePublishAsync(InterceptingPublishEventArgs e)
    {
        // Stored here, not routed on: the gateway is the only consumer.
        e.ProcessPublish = false;
        metrics.OnReceived();
        var message = e.ApplicationMessage;
        var refusal = message.Payload.Length > options.MaxMessageBytes ? "oversized"
            : options.DeviceTopicPattern is { } pattern && !message.Topic.StartsWith(pattern.Replace("{clientId}", e.ClientId, StringComparison.Ordinal), StringComparison.Ordinal) ? "topic_not_allowed"
            : quota?.Admit(e.ClientId);
        if (refusal is not null)
        {
            // Never stored, never acknowledged as stored. A client whose protocol is not known is treated as 3.1.1.
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", refusal));
            if (protocols.TryGetValue(e.ClientId, out var protocol) && protocol == MqttProtocolVersion.V500)
            {
                e.Response.ReasonCode = refusal switch
                {
                    "oversized" => MqttPubAckReasonCode.PayloadFormatInvalid,
                    DeviceQuota.RateLimited or DeviceQuota.OverBufferShare => MqttPubAckReasonCode.QuotaExceeded,
                    _ => MqttPubAckReasonCode.NotAuthorized,
                };
            }
            else
            {
                e.CloseConnection = true;
            }

            if (refusal is not (DeviceQuota.RateLimited or DeviceQuota.OverBufferShare))
            {
                // Quota refusals come many a second from a flooding device; DeviceQuota logs them as a count.
                Log.Refused(logger, refusal, e.CloseConnection);
            }

            return;
        }

        var properties = message.UserProperties?.GroupBy(p => p.Name).ToDictionary(g => g.Key, g => g.Last().ReadValueAsString()) ?? [];
        try
        {
            var received = new InboxMessage(e.ClientId, message.Topic, System.Buffers.BuffersExtensions.ToArray(message.Payload), time.GetUtcNow().UtcDateTime, properties)
            {
                // Unknown is bound where devices can log in: the entry of a device that logged in again can be emptied by
                // its old connection's end, which MQTTnet reports after the new login (a device could time that to publish
                // unbound). Anonymous clients are unbound only where they are allowed and known as such.
                Authenticated = !options.AllowAnonymous || (authenticated.TryGetValue(e.ClientId, out var loggedIn)
                    ? loggedIn
                    : options.PasswordFile is not null || options.RequireClientCertificate),
            };
            await inbox.AppendAsync(received, e.CancellationToken).ConfigureAwait(false);
            metrics.OnCommitted();
            if (storeFailing)
            {
                storeFailing = false;
                health?.Healthy("buffer");
            }
        }
        catch (Exception ex)
        {
            // Not stored, so not acknowledged, whatever failed: closing the connection makes the device send it again later.
            var full = ex is BufferFullException;
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", full ? "buffer_full" : "store_failed"));
            e.CloseConnection = true;
            Log.NotStored(logger, ex.GetType().Name);
            if (!full && ex is not OperationCanceledException)
            {
                storeFailing = true;
                health?.Unhealthy("buffer", $"the buffer cannot write ({ex.GetType().Name}, e.g. a full disk); publishes are not acknowledged and devices retry");
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "MQTT connection refused: {Reason}.")]
        public static partial void ConnectionRefused(ILogger logger, MqttConnectReasonCode reason);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "MQTT publish refused: {Reason} (connection closed without PUBACK: {Closed}).")]
        public static partial void Refused(ILogger logger, string reason, bool closed);

        [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Embedded MQTT broker started (port {Port}, TLS port {TlsPort}); device identities are bound: each device reports only its own readings (or those Gateway:Identity:ReportsFor allows it).")]
        public static partial void Started(ILogger logger, int port, int tlsPort);

        [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Embedded MQTT broker started (port {Port}, TLS port {TlsPort}) with Mqtt:AllowAnonymous; device identities are {Binding}.")]
        public static partial void StartedAnonymous(ILogger logger, int port, int tlsPort, string binding);

        [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "MQTT publish not stored ({Error}); closing the connection without acknowledging, the device will resend.")]
        public static partial void NotStored(ILogger logger, string error);
    }
}
