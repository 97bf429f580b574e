using System.Buffers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// Ingest from an external broker (Mosquitto): a persistent MQTT 5 session (clean start off, a long session expiry)
/// subscribed with QoS 1, and manual acknowledgement: a message is acknowledged to the broker only after its commit,
/// so whatever the gateway had not committed when it died is delivered again from the broker's session. The device
/// id in the envelope is taken from the topic (<see cref="MqttIngestOptions.DeviceTopicPattern"/>), since the broker
/// authenticated the device, not the gateway. A message too large to store becomes a dead letter of its size, hash and
/// first bytes (<see cref="GatewayStore.DeviceMessageTooLarge"/>), acknowledged once that is committed: nothing the
/// broker hands over is acknowledged and then dropped.
/// </summary>
public sealed partial class ExternalBrokerClient : IMqttIngest, IAsyncDisposable
{
    private readonly MqttIngestOptions options;
    private readonly ExternalBrokerOptions broker;
    private readonly IInbox inbox;
    private readonly IInboxStore store;
    private readonly IngestMetrics metrics;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly IMqttClient client;
    private readonly CancellationTokenSource stopping = new();
    private readonly ModuleHealth? health;
    private Task? connecting;
    private volatile bool storeFailing;
    private int disposed;

    public ExternalBrokerClient(MqttIngestOptions options, IInbox inbox, IInboxStore store, IngestMetrics metrics, ILogger<ExternalBrokerClient> logger,
        TimeProvider? timeProvider = null, ModuleHealth? health = null)
    {
        this.health = health;
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        broker = options.External;
        this.inbox = inbox;
        this.store = store;
        this.metrics = metrics;
        this.logger = logger;
        time = timeProvider ?? TimeProvider.System;
        client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += OnMessageAsync;
    }

    /// <summary>Connected and subscribed (the broker queues for the session from then on).</summary>
    public bool IsSubscribed { get; private set; }

    public string Name => "mqtt-external";

    public bool IsListening => IsSubscribed;

    /// <summary>Starts connecting; the gateway runs (and its outbox drains) while the broker is unreachable.</summary>
    public Task StartAsync()
    {
        connecting = Task.Run(() => KeepConnectedAsync(stopping.Token));
        return Task.CompletedTask;
    }

    public async Task StopAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        if (connecting is not null)
        {
            await connecting.ConfigureAwait(false);
        }

        if (client.IsConnected)
        {
            // Unacknowledged messages stay in the broker's session for the next start.
            await client.DisconnectAsync().ConfigureAwait(false);
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
        client.Dispose();
        stopping.Dispose();
    }

    private async Task KeepConnectedAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        while (!cancellationToken.IsCancellationRequested)
        {
            if (!client.IsConnected)
            {
                try
                {
                    var result = await client.ConnectAsync(ClientOptions(), cancellationToken).ConfigureAwait(false);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                    {
                        throw new MQTTnet.Exceptions.MqttCommunicationException($"connect refused: {result.ResultCode}");
                    }

                    var subscribe = new MqttClientFactory().CreateSubscribeOptionsBuilder();
                    foreach (var filter in broker.TopicFilters)
                    {
                        subscribe = subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
                    }

                    await client.SubscribeAsync(subscribe.Build(), cancellationToken).ConfigureAwait(false);
                    IsSubscribed = true;
                    Log.Connected(logger, result.IsSessionPresent);
                    backoff = TimeSpan.FromMilliseconds(500);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or System.Net.Sockets.SocketException or IOException)
                {
                    var error = ex.GetType().Name;
                    Log.Unreachable(logger, error, backoff);
                    await Delay(backoff, cancellationToken).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
                    continue;
                }
            }

            await Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
        }
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        e.AutoAcknowledge = false;
        metrics.OnReceived();
        var message = e.ApplicationMessage;
        if (message.Payload.Length > options.MaxMessageBytes)
        {
            // Resending it would never fit: kept as a dead letter of what it was, then acknowledged.
            metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", "oversized"));
            Log.Refused(logger, "oversized");
            var letter = TooLarge(message, DeviceOf(message.Topic), time.GetUtcNow().UtcDateTime, options.MaxMessageBytes);
            _ = DeadLetterThenAcknowledgeAsync(e, letter);
            return Task.CompletedTask;
        }

        var properties = message.UserProperties?.GroupBy(p => p.Name).ToDictionary(g => g.Key, g => g.Last().ReadValueAsString()) ?? [];
        var received = new InboxMessage(DeviceOf(message.Topic), message.Topic, message.Payload.ToArray(), time.GetUtcNow().UtcDateTime, properties)
        {
            // The broker's ACLs pin each device to its topic, so the topic's device id is the identity readings are bound to.
            Authenticated = options.DeviceTopicPattern is not null,
        };

        // Not awaited here: the next message is taken while this one waits for its group commit.
        _ = StoreThenAcknowledgeAsync(e, received);
        return Task.CompletedTask;
    }

    private async Task StoreThenAcknowledgeAsync(MqttApplicationMessageReceivedEventArgs e, InboxMessage message)
    {
        try
        {
            await inbox.AppendAsync(message, stopping.Token).ConfigureAwait(false);
            metrics.OnCommitted();
            if (storeFailing)
            {
                storeFailing = false;
                health?.Healthy("buffer");
            }

            await e.AcknowledgeAsync(stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await NotStoredAsync(ex).ConfigureAwait(false);
        }
    }

    /// <summary>Not acknowledged, whatever failed: the broker keeps it in the session and delivers it again after a reconnect.</summary>
    private async Task NotStoredAsync(Exception ex)
    {
        metrics.Refused.Add(1, new KeyValuePair<string, object?>("reason", ex is BufferFullException ? "buffer_full" : "store_failed"));
        Log.NotStored(logger, ex.GetType().Name);
        if (ex is not (BufferFullException or OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException))
        {
            storeFailing = true;
            health?.Unhealthy("buffer", $"the buffer cannot write ({ex.GetType().Name}, e.g. a full disk); messages stay unacknowledged in the broker's session");
        }

        try
        {
            if (!stopping.IsCancellationRequested && client.IsConnected)
            {
                await client.DisconnectAsync().ConfigureAwait(false);
            }
        }
        catch (Exception disconnect) when (disconnect is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException)
        {
            // Already gone: the reconnect loop takes over.
        }
    }

    private async Task DeadLetterThenAcknowledgeAsync(MqttApplicationMessageReceivedEventArgs e, DeadLetter letter)
    {
        try
        {
            // Off the receive loop: the commit forces the disk.
            await Task.Run(() => store.AddDeadLetter(letter), stopping.Token).ConfigureAwait(false);
            metrics.OnDeadLettered();
            await e.AcknowledgeAsync(stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await NotStoredAsync(ex).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The dead letter of an oversized message: no payload (it may be 256 MB), and a reason with its size, SHA-256 and
    /// first 64 bytes in hex, enough to find the sender and the kind of content; user properties are left out too.
    /// </summary>
    internal static DeadLetter TooLarge(MqttApplicationMessage message, string device, DateTime receivedUtc, int maxMessageBytes)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var segment in message.Payload)
        {
            sha.AppendData(segment.Span);
        }

        var length = message.Payload.Length;
        var head = message.Payload.Slice(0, Math.Min(64, length)).ToArray();
        var reason = $"{length} bytes, over Mqtt:MaxMessageBytes ({maxMessageBytes}); SHA-256 {Convert.ToHexStringLower(sha.GetHashAndReset())}; " +
            $"first {head.Length} bytes {Convert.ToHexStringLower(head)}; {message.UserProperties?.Count ?? 0} user properties not kept.";
        var kept = new InboxMessage(device, message.Topic, ReadOnlyMemory<byte>.Empty, receivedUtc, new Dictionary<string, string>());
        return new DeadLetter(kept, GatewayStore.DeviceMessageTooLarge, reason, receivedUtc);
    }

    /// <summary>The device id the topic names under <see cref="MqttIngestOptions.DeviceTopicPattern"/> (<c>devices/{clientId}/</c>), else empty.</summary>
    private string DeviceOf(string topic)
    {
        if (options.DeviceTopicPattern is not { } pattern)
        {
            return "";
        }

        var prefix = pattern[..pattern.IndexOf("{clientId}", StringComparison.Ordinal)];
        if (!topic.StartsWith(prefix, StringComparison.Ordinal))
        {
            return "";
        }

        var rest = topic[prefix.Length..];
        var end = rest.IndexOf('/', StringComparison.Ordinal);
        return end < 0 ? rest : rest[..end];
    }

    private MqttClientOptions ClientOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(broker.Host, broker.Port)
            .WithClientId(broker.ClientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)broker.SessionExpiry.TotalSeconds)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (broker.Username is not null)
        {
            builder = builder.WithCredentials(broker.Username, broker.Password);
        }

        if (broker.UseTls)
        {
            builder = builder.WithTlsOptions(tls =>
            {
                tls.UseTls();
                if (broker.CaCertificatePath is { } caPath)
                {
                    var ca = X509CertificateLoader.LoadCertificateFromFile(caPath);
                    tls.WithCertificateValidationHandler(args => TrustedBy(ca, args.Certificate, args.SslPolicyErrors));
                }
            });
        }

        return builder.Build();
    }

    /// <summary>The broker's certificate chains to the configured CA (and names the host): a private CA instead of the system store.</summary>
    private static bool TrustedBy(X509Certificate2 ca, X509Certificate? presented, SslPolicyErrors errors)
    {
        if (presented is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var certificate = new X509Certificate2(presented);
        return chain.Build(certificate);
    }

    private static async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Connected to the external MQTT broker (session present: {SessionPresent}).")]
        public static partial void Connected(ILogger logger, bool sessionPresent);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "The external MQTT broker is unreachable ({Error}); next try in {Backoff}. Devices' messages wait in the broker's session.")]
        public static partial void Unreachable(ILogger logger, string error, TimeSpan backoff);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "MQTT message refused: {Reason}.")]
        public static partial void Refused(ILogger logger, string reason);

        [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "MQTT message not stored ({Error}); not acknowledged, reconnecting so the broker delivers it again.")]
        public static partial void NotStored(ILogger logger, string error);
    }
}
