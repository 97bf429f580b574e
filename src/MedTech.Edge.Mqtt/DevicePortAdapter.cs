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
/// and hands MQTTnet a <see cref="GuardedChannel"/>. Limits: <see cref="DevicePortOptions"/>. Connections not logged in
/// yet are kept oldest first, so at <see cref="DevicePortOptions.MaxPendingConnections"/> the oldest of them gives its
/// place to the newcomer.
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
    private readonly int maxPending;

    // The counts of connections and of those not logged in, under one lock: an admission checks both caps and may
    // close the oldest pending connection in one step, so no two accepts take the same place.
    private readonly Lock places = new();
    private int open;
    private readonly LinkedList<Place> pending = [];
    private readonly Dictionary<IPAddress, int> pendingByAddress = [];
    private readonly ConcurrentDictionary<string, long> loggedAt = new(StringComparer.Ordinal);

    public DevicePortAdapter(DevicePortOptions limits, int maxMessageBytes, IngestMetrics metrics, ILogger logger, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(limits);
        this.limits = limits;
        sessionPacketLimit = maxMessageBytes + DevicePortOptions.PacketHeadroomBytes;

        // Validate() keeps it below MaxConnections; options built in code skip that, and pending connections must
        // still leave a place for a device to log in.
        maxPending = Math.Max(1, Math.Min(limits.EffectiveMaxPendingConnections, limits.MaxConnections - 1));
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

    /// <summary>
    /// Applies the caps to an accepted socket and serves it, or closes it (reset, no reply) and counts why. At
    /// <see cref="DevicePortOptions.MaxPendingConnections"/>, or at <see cref="DevicePortOptions.MaxConnections"/> with
    /// connections not logged in, the newcomer is taken and the oldest connection not logged in is closed instead: it
    /// has had the longest to send its CONNECT, and an honest device sends it at once. Logged-in devices are never closed.
    /// </summary>
    private void Admit(Socket socket, MqttServerTcpEndpointBaseOptions endpoint, MqttServerTlsTcpEndpointOptions? tls, CancellationToken cancellationToken)
    {
        socket.NoDelay = endpoint.NoDelay;
        socket.LingerState = new LingerOption(true, 0);
        var address = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
        var place = new Place(this, socket, address);
        Place? evicted = null;
        string? refusal = null;
        lock (places)
        {
            if (pendingByAddress.GetValueOrDefault(address) >= limits.MaxPendingConnectionsPerAddress)
            {
                refusal = "address_pending_cap";
            }
            else if (open >= limits.MaxConnections && pending.Count == 0)
            {
                refusal = "connection_cap";
            }
            else
            {
                // At the pending cap, or at the connection cap while some connections have not logged in: the oldest of
                // those gives its place, so connections that never log in cannot keep a monitor out either way.
                if (pending.Count >= maxPending || open >= limits.MaxConnections)
                {
                    evicted = pending.First!.Value;
                    LeavePendingLocked(evicted);
                    LeaveOpenLocked(evicted);
                }

                place.Node = pending.AddLast(place);
                pendingByAddress[address] = pendingByAddress.GetValueOrDefault(address) + 1;
                Volatile.Write(ref open, open + 1);
            }
        }

        if (refusal is not null)
        {
            socket.Close(0);
            Refuse(refusal, null);
            return;
        }

        if (evicted is not null)
        {
            // Counted first, so whoever sees it closed sees it counted. Its handshake or CONNECT read fails and its task
            // ends; its places were given back above.
            Refuse("pending_evicted", null);
            evicted.Socket.Close(0);
        }

        connections[socket] = 0;
        _ = Task.Run(() => ServeAsync(socket, place, endpoint, tls, cancellationToken), CancellationToken.None);
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

    /// <summary>Takes <paramref name="place"/> out of the pending connections (it logged in, closed, or was evicted); once.</summary>
    private void LeavePendingLocked(Place place)
    {
        if (place.Node is not { } node)
        {
            return;
        }

        pending.Remove(node);
        place.Node = null;
        if (pendingByAddress.TryGetValue(place.Address, out var count) && count > 1)
        {
            pendingByAddress[place.Address] = count - 1;
        }
        else
        {
            pendingByAddress.Remove(place.Address);
        }
    }

    /// <summary>Gives <paramref name="place"/>'s place under <see cref="DevicePortOptions.MaxConnections"/> back; once.</summary>
    private void LeaveOpenLocked(Place place)
    {
        if (!place.Open)
        {
            return;
        }

        place.Open = false;
        Volatile.Write(ref open, open - 1);
    }

    private async Task ServeAsync(Socket socket, Place place, MqttServerTcpEndpointBaseOptions endpoint, MqttServerTlsTcpEndpointOptions? tls, CancellationToken cancellationToken)
    {
        Stream? stream = null;
        try
        {
            // Inside the try: a connection evicted before this task ran has a closed socket, and its end must still
            // be cleaned up below.
            stream = new NetworkStream(socket, ownsSocket: true);
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

            await HandOverAsync(socket, stream, clientCertificate, place, endpoint).ConfigureAwait(false);
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
            place.Close();
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }

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

    private async Task HandOverAsync(Socket socket, Stream stream, X509Certificate2? clientCertificate, Place place, MqttServerTcpEndpointBaseOptions endpoint)
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
            place.LoggedIn();
        };

        var formatter = new MqttPacketFormatterAdapter(new MqttBufferWriter(serverOptions.WriterBufferSize, serverOptions.WriterBufferSizeMax));
        using var adapter = new MqttChannelAdapter(channel, formatter, mqttLogger) { AllowPacketFragmentation = endpoint.AllowPacketFragmentation };
        await handler(adapter).ConfigureAwait(false);
    }

    /// <summary>
    /// A connection's places: under <see cref="DevicePortOptions.MaxConnections"/> until it closes (or is evicted), and
    /// among the pending connections (<see cref="DevicePortOptions.MaxPendingConnections"/>, per address too) until it
    /// logs in. Each is given back once, under the adapter's lock.
    /// </summary>
    private sealed class Place(DevicePortAdapter owner, Socket socket, IPAddress address)
    {
        public Socket Socket { get; } = socket;

        public IPAddress Address { get; } = address;

        /// <summary>Its entry among the pending connections, oldest first; null once logged in, closed or evicted.</summary>
        public LinkedListNode<Place>? Node { get; set; }

        public bool Open { get; set; } = true;

        public void LoggedIn()
        {
            lock (owner.places)
            {
                owner.LeavePendingLocked(this);
            }
        }

        public void Close()
        {
            lock (owner.places)
            {
                owner.LeavePendingLocked(this);
                owner.LeaveOpenLocked(this);
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
