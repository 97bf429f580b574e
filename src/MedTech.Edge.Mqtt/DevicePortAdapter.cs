using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Server;

namespace MedTech.Edge.Mqtt;

/// <summary>
/// The embedded broker's TCP and TLS listeners, in place of MQTTnet's own (which read any announced packet length
/// before authentication and have no connection cap or handshake time-out). It listens where MQTTnet's endpoint options
/// say, does the TLS handshake as MQTTnet would (same certificate, validation callback and client-certificate options),
/// and hands MQTTnet a <see cref="GuardedChannel"/>. Limits: <see cref="DevicePortOptions"/>.
/// </summary>
public sealed partial class DevicePortAdapter : IMqttServerAdapter
{
    private readonly DevicePortOptions limits;
    private readonly int sessionPacketLimit;
    private readonly IngestMetrics metrics;
    private readonly ILogger logger;
    private readonly TimeProvider time;
    private readonly List<Socket> listeners = [];
    private readonly ConcurrentDictionary<Socket, byte> connections = new();
    private CancellationTokenSource? stopping;
    private MqttServerOptions? serverOptions;
    private IMqttNetLogger? mqttLogger;
    private int open;
    private readonly Dictionary<IPAddress, int> pendingByAddress = [];
    private readonly ConcurrentDictionary<string, long> loggedAt = new(StringComparer.Ordinal);

    public DevicePortAdapter(DevicePortOptions limits, int maxMessageBytes, IngestMetrics metrics, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(limits);
        this.limits = limits;
        sessionPacketLimit = maxMessageBytes + DevicePortOptions.PacketHeadroomBytes;
        this.metrics = metrics;
        this.logger = logger;
        time = timeProvider ?? TimeProvider.System;
    }

    public Func<IMqttChannelAdapter, Task>? ClientHandler { get; set; }

    /// <summary>Connections open now, including those still in their TLS handshake or before their CONNECT.</summary>
    public int OpenConnections => Volatile.Read(ref open);

    public Task StartAsync(MqttServerOptions options, IMqttNetLogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (stopping is not null)
        {
            throw new InvalidOperationException("The device port is already started.");
        }

        serverOptions = options;
        mqttLogger = logger;
        stopping = new CancellationTokenSource();
        if (options.DefaultEndpointOptions.IsEnabled)
        {
            Listen(options.DefaultEndpointOptions, tls: null);
        }

        if (options.TlsEndpointOptions.IsEnabled)
        {
            Listen(options.TlsEndpointOptions, options.TlsEndpointOptions);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync()
    {
        Stop();
        return Task.CompletedTask;
    }

    public void Dispose() => Stop();

    private void Stop()
    {
        if (Interlocked.Exchange(ref stopping, null) is not { } cancel)
        {
            return;
        }

        cancel.Cancel();
        cancel.Dispose();
        foreach (var listener in listeners)
        {
            listener.Dispose();
        }

        listeners.Clear();

        // MQTTnet has closed its clients by now; these are connections still in a handshake or before their CONNECT.
        foreach (var socket in connections.Keys)
        {
            socket.Close(0);
        }
    }

    private void Listen(MqttServerTcpEndpointBaseOptions endpoint, MqttServerTlsTcpEndpointOptions? tls)
    {
        foreach (var address in new[] { endpoint.BoundInterNetworkAddress, endpoint.BoundInterNetworkV6Address })
        {
            if (address.Equals(IPAddress.None) || address.Equals(IPAddress.IPv6None))
            {
                continue;
            }

            var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                listener.Bind(new IPEndPoint(address, endpoint.Port));
                listener.Listen(endpoint.ConnectionBacklog);
            }
            catch
            {
                listener.Dispose();
                throw;
            }

            // Port 0 asks the system for a free port; MQTTnet's listener reports it back the same way.
            endpoint.Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            listeners.Add(listener);
            _ = AcceptAsync(listener, endpoint, tls, stopping!.Token);
        }
    }

    private async Task AcceptAsync(Socket listener, MqttServerTcpEndpointBaseOptions endpoint, MqttServerTlsTcpEndpointOptions? tls, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // E.g. the process ran out of file descriptors: wait rather than spin, and keep listening.
                Log.AcceptFailed(logger, ex.SocketErrorCode);
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            try
            {
                Admit(socket, endpoint, tls, cancellationToken);
            }
            catch (Exception ex)
            {
                // A client that reset while being admitted; nothing may end the accept loop, or the port would go deaf.
                socket.Dispose();
                var error = ex.GetType().Name;
                Log.ConnectionFailed(logger, error);
            }
        }
    }

    /// <summary>Applies the caps to an accepted socket and serves it, or closes it (reset, no reply) and counts why.</summary>
    private void Admit(Socket socket, MqttServerTcpEndpointBaseOptions endpoint, MqttServerTlsTcpEndpointOptions? tls, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref open) > limits.MaxConnections)
        {
            Interlocked.Decrement(ref open);
            socket.Close(0);
            Refuse("connection_cap", null);
            return;
        }

        IPAddress address;
        try
        {
            socket.NoDelay = endpoint.NoDelay;
            socket.LingerState = new LingerOption(true, 0);
            address = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        }
        catch
        {
            Interlocked.Decrement(ref open);
            throw;
        }

        if (!TryTakePending(address))
        {
            Interlocked.Decrement(ref open);
            socket.Close(0);
            Refuse("address_pending_cap", null);
            return;
        }

        connections[socket] = 0;
        var pending = new PendingPlace(this, address);
        _ = Task.Run(() => ServeAsync(socket, pending, endpoint, tls, cancellationToken), CancellationToken.None);
    }

    /// <summary>Counts a connection the limits closed; logs each reason at most once a minute, so a flood of connections is not a flood of log lines.</summary>
    private void Refuse(string reason, string? error)
    {
        metrics.ConnectionsRefused.Add(1, new KeyValuePair<string, object?>("reason", reason));
        var now = time.GetTimestamp();
        var last = loggedAt.GetOrAdd(reason, long.MinValue);
        if ((last == long.MinValue || time.GetElapsedTime(last, now) >= TimeSpan.FromMinutes(1)) && loggedAt.TryUpdate(reason, now, last))
        {
            if (reason == "connection_cap")
            {
                Log.CapReached(logger, limits.MaxConnections);
            }
            else
            {
                Log.Refused(logger, reason, error);
            }
        }
    }

    private bool TryTakePending(IPAddress address)
    {
        lock (pendingByAddress)
        {
            var count = pendingByAddress.GetValueOrDefault(address);
            if (count >= limits.MaxPendingConnectionsPerAddress)
            {
                return false;
            }

            pendingByAddress[address] = count + 1;
            return true;
        }
    }

    private void ReleasePending(IPAddress address)
    {
        lock (pendingByAddress)
        {
            if (pendingByAddress.TryGetValue(address, out var count) && count > 1)
            {
                pendingByAddress[address] = count - 1;
            }
            else
            {
                pendingByAddress.Remove(address);
            }
        }
    }

    private async Task ServeAsync(Socket socket, PendingPlace pending, MqttServerTcpEndpointBaseOptions endpoint, MqttServerTlsTcpEndpointOptions? tls, CancellationToken cancellationToken)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            X509Certificate2? clientCertificate = null;
            if (tls is not null)
            {
                var ssl = new SslStream(stream, false, tls.RemoteCertificateValidationCallback);
                stream = ssl;
                if (!await HandshakeAsync(ssl, socket, tls, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                clientCertificate = ssl.RemoteCertificate switch
                {
                    null => null,
                    X509Certificate2 certificate => certificate,
                    var other => X509CertificateLoader.LoadCertificate(other.Export(X509ContentType.Cert)),
                };
            }

            await HandOverAsync(socket, stream, clientCertificate, pending, endpoint).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A connection's failure ends that connection only; the type says enough (no device data in logs).
            var error = ex.GetType().Name;
            Log.ConnectionFailed(logger, error);
        }
        finally
        {
            connections.TryRemove(socket, out _);
            pending.Release();
            Interlocked.Decrement(ref open);
            await stream.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
        }
    }

    /// <summary>The TLS handshake within its time-out; false when the connection was closed instead.</summary>
    private async Task<bool> HandshakeAsync(SslStream ssl, Socket socket, MqttServerTlsTcpEndpointOptions tls, CancellationToken cancellationToken)
    {
        var certificate = tls.CertificateProvider.GetCertificate();
        using var timeout = new CancellationTokenSource(limits.TlsHandshakeTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);

        // Closing the socket as well: a stalled handshake read must end even if the stream ignored the token.
        await using var close = linked.Token.Register(() => socket.Close(0)).ConfigureAwait(false);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
                ClientCertificateRequired = tls.ClientCertificateRequired,
                EnabledSslProtocols = tls.SslProtocol,
                CertificateRevocationCheckMode = tls.CheckCertificateRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck,
                EncryptionPolicy = EncryptionPolicy.RequireEncryption,
                CipherSuitesPolicy = tls.CipherSuitesPolicy,
            }, linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Refuse("tls_handshake_timeout", ex.GetType().Name);
            return false;
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or SocketException or OperationCanceledException)
        {
            // A refused client certificate, a client that hung up, or the broker stopping: that connection only.
            Refuse("tls_handshake_failed", ex.GetType().Name);
            return false;
        }
    }

    private async Task HandOverAsync(Socket socket, Stream stream, X509Certificate2? clientCertificate, PendingPlace pending, MqttServerTcpEndpointBaseOptions endpoint)
    {
        var handler = ClientHandler;
        if (handler is null || serverOptions is null || mqttLogger is null)
        {
            return;
        }

        var guard = new PacketSizeGuard(limits.MaxConnectPacketBytes, sessionPacketLimit);
        var channel = new GuardedChannel(stream, socket, clientCertificate, guard, reason => Refuse(reason, null));

        // Started after the handshake: the two time-outs bound the two phases separately.
        using var connectTimer = time.CreateTimer(_ =>
        {
            if (!guard.Accepted)
            {
                channel.Abort("connect_timeout");
            }
        }, null, limits.ConnectTimeout, Timeout.InfiniteTimeSpan);
        channel.Accepted += () =>
        {
            connectTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            pending.Release();
        };

        var formatter = new MqttPacketFormatterAdapter(new MqttBufferWriter(serverOptions.WriterBufferSize, serverOptions.WriterBufferSizeMax));
        using var adapter = new MqttChannelAdapter(channel, formatter, mqttLogger) { AllowPacketFragmentation = endpoint.AllowPacketFragmentation };
        await handler(adapter).ConfigureAwait(false);
    }

    /// <summary>A connection's place under <see cref="DevicePortOptions.MaxPendingConnectionsPerAddress"/>, given back once: at login or at close.</summary>
    private sealed class PendingPlace(DevicePortAdapter owner, IPAddress address)
    {
        private int released;

        public void Release()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                owner.ReleasePending(address);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "MQTT connection closed by the device port's limits: {Reason} ({Error}); logged once a minute per reason, all counted in connections.refused.")]
        public static partial void Refused(ILogger logger, string reason, string? error);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "MQTT connection cap reached ({MaxConnections} open): new connections are closed at accept (logged once a minute, all counted in connections.refused).")]
        public static partial void CapReached(ILogger logger, int maxConnections);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "MQTT accept failed ({Error}); listening on.")]
        public static partial void AcceptFailed(ILogger logger, SocketError error);

        [LoggerMessage(EventId = 1104, Level = LogLevel.Debug, Message = "MQTT connection ended with {Error}.")]
        public static partial void ConnectionFailed(ILogger logger, string error);
    }
}
