using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MedTech.Edge.Buffer;
using Microsoft.Extensions.Logging;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// The gateway's own MQTT broker (MQTTnet.Server): every QoS 0/1 publish is stored in the inbox, and a QoS 1 publish
/// is acknowledged only after its commit reached the disk (MQTTnet sends the PUBACK when the interceptor returns).
/// When the buffer refuses a message the connection is closed without a PUBACK, so the device sends it again.
/// </summary>
public sealed partial class EmbeddedBroker : IMqttIngest, IAsyncDisposable
{
    private readonly MqttIngestOptions options;
    private readonly InboxWriter inbox;
    private readonly IngestMetrics metrics;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly MqttServer server;
    private int stopped;

    public EmbeddedBroker(MqttIngestOptions options, InboxWriter inbox, IngestMetrics metrics, ILogger<EmbeddedBroker> logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.inbox = inbox;
        this.metrics = metrics;
        this.logger = logger;
        time = timeProvider ?? TimeProvider.System;
        server = new MqttServerFactory().CreateMqttServer(ServerOptions(options));
        server.ValidatingConnectionAsync += ValidateConnectionAsync;
        server.InterceptingPublishAsync += StorePublishAsync;
    }

    public Task StartAsync() => server.StartAsync();

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
        await StopAsync().ConfigureAwait(false);
        server.Dispose();
    }

    private static MqttServerOptions ServerOptions(MqttIngestOptions options)
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
                builder = builder.WithClientCertificate((_, _, _, errors) => errors == SslPolicyErrors.None, true);
            }
        }

        return builder.Build();
    }

    private Task ValidateConnectionAsync(ValidatingConnectionEventArgs e)
    {
        var known = e.UserName is { } user && options.Devices.TryGetValue(user, out var password) && password == e.Password;
        if (known && e.ClientId != e.UserName)
        {
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
        }
        else if (!known && !options.AllowAnonymous && !(options.RequireClientCertificate && e.ClientCertificate is not null))
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
        }

        if (e.ReasonCode != MqttConnectReasonCode.Success)
        {
            Log.ConnectionRefused(logger, e.ReasonCode);
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
            : null;
        if (refusal is not null)
        {
            // Not retried by the device: a v5 client gets the reason, a v3.1.1 client a plain PUBACK (MQTT 3 has no negative ack).
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", refusal));
            e.Response.ReasonCode = refusal == "oversized" ? MqttPubAckReasonCode.PayloadFormatInvalid : MqttPubAckReasonCode.NotAuthorized;
            Log.Refused(logger, refusal);
            return;
        }

        var properties = message.UserProperties?.GroupBy(p => p.Name).ToDictionary(g => g.Key, g => g.Last().ReadValueAsString()) ?? [];
        try
        {
            await inbox.AppendAsync(new InboxMessage(e.ClientId, message.Topic, System.Buffers.BuffersExtensions.ToArray(message.Payload), time.GetUtcNow().UtcDateTime, properties), e.CancellationToken).ConfigureAwait(false);
            metrics.OnCommitted();
        }
        catch (Exception ex) when (ex is BufferFullException or OperationCanceledException or IOException or LiteDB.LiteException)
        {
            // Not stored, so not acknowledged: closing the connection makes the device send it again later.
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", ex is BufferFullException ? "buffer_full" : "store_failed"));
            e.CloseConnection = true;
            Log.NotStored(logger, ex.GetType().Name);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "MQTT connection refused: {Reason}.")]
        public static partial void ConnectionRefused(ILogger logger, MqttConnectReasonCode reason);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "MQTT publish refused: {Reason}.")]
        public static partial void Refused(ILogger logger, string reason);

        [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "MQTT publish not stored ({Error}); closing the connection without acknowledging, the device will resend.")]
        public static partial void NotStored(ILogger logger, string error);
    }
}
