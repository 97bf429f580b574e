using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Hosting;

/// <summary>
/// The connection cap of ONE monitoring endpoint (Kestrel connection middleware, <c>ListenOptions.Use</c>): Kestrel's own
/// <c>MaxConcurrentConnections</c> is server-wide, so whoever filled the network port would also fill the probe socket's
/// places. Besides the endpoint's total, one client address (an IPv6 /64, which one host usually owns whole) holds at most
/// <c>perAddress</c> places, so a single client cannot take them all. A connection over a cap is closed before any HTTP is
/// read (as Kestrel's own limit does), counted, and logged at most once a minute.
/// </summary>
internal sealed partial class ConnectionPlaces(string endpoint, int total, int perAddress, Counter<long> refused, TimeProvider time, ILogger logger)
{
    private readonly Lock gate = new();
    private readonly Dictionary<IPAddress, int> byAddress = [];
    private int open;
    private long loggedAt = long.MinValue;
    private long unlogged;

    /// <summary>Connections this endpoint serves now.</summary>
    public int Open
    {
        get
        {
            lock (gate)
            {
                return open;
            }
        }
    }

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        var address = Key(connection.RemoteEndPoint);
        if (TryTake(address) is { } full)
        {
            Refuse(full);
            // Nothing read, nothing answered: the transport closes when this delegate returns.
            await connection.Transport.Input.CompleteAsync().ConfigureAwait(false);
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Release(address);
        }
    };

    /// <summary>The address a client is counted under: IPv4 (also IPv4-mapped), an IPv6 /64, or one key for a Unix socket's peers.</summary>
    internal static IPAddress Key(EndPoint? remote)
    {
        if (remote is not IPEndPoint { Address: var address })
        {
            return IPAddress.None;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes);
        }

        return address;
    }

    /// <summary>Null when a place was taken; else which cap is full.</summary>
    private string? TryTake(IPAddress address)
    {
        lock (gate)
        {
            if (open >= total)
            {
                return "endpoint";
            }

            var held = byAddress.GetValueOrDefault(address);
            if (held >= perAddress)
            {
                return "address";
            }

            byAddress[address] = held + 1;
            open++;
            return null;
        }
    }

    private void Release(IPAddress address)
    {
        lock (gate)
        {
            open--;
            var held = byAddress[address];
            if (held <= 1)
            {
                byAddress.Remove(address);
            }
            else
            {
                byAddress[address] = held - 1;
            }
        }
    }

    private void Refuse(string limit)
    {
        refused.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint), new KeyValuePair<string, object?>("limit", limit));
        var count = Interlocked.Increment(ref unlogged);
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref loggedAt);
        if ((last == long.MinValue || time.GetElapsedTime(last, now) >= TimeSpan.FromMinutes(1))
            && Interlocked.CompareExchange(ref loggedAt, now, last) == last)
        {
            Interlocked.Add(ref unlogged, -count);
            // No address: who asks the monitoring port is not the log's business, how often it is full is.
            Log.Refused(logger, endpoint, count, total, perAddress);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9002, Level = LogLevel.Warning,
            Message = "The monitoring endpoint ({Endpoint}) closed {Count} connection(s) over its caps ({Total} in all, {PerAddress} per client address); logged at most once a minute, all counted in monitoring.connections_refused.")]
        public static partial void Refused(ILogger logger, string endpoint, long count, int total, int perAddress);
    }
}
