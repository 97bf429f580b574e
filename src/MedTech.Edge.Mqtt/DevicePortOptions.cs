namespace MedTech.Edge.Mqtt;

/// <summary>
/// Limits the embedded broker's device port enforces before a device has proved who it is (configuration section
/// <c>Mqtt:DevicePort</c>). Defaults are sized for a ward of about 200 monitors with room for reconnect storms.
/// </summary>
public sealed class DevicePortOptions
{
    /// <summary>
    /// Room above <see cref="MqttIngestOptions.MaxMessageBytes"/> for a PUBLISH's topic, packet id and MQTT 5 properties:
    /// a logged-in device's packets may be at most MaxMessageBytes plus this. Payloads between the two still reach the
    /// broker's own size check (negative PUBACK on MQTT 5), so the device learns why; beyond it the connection is closed.
    /// </summary>
    public const int PacketHeadroomBytes = 64 * 1024;

    /// <summary>Open device connections (plain and TLS together, handshakes included); beyond it new ones are closed at accept.</summary>
    public int MaxConnections { get; set; } = 500;

    /// <summary>
    /// Connections that have not logged in yet (TLS handshake or CONNECT under way), from all addresses together. When
    /// it is reached a new connection is still taken, and the oldest one not logged in is closed (counted as
    /// <c>pending_evicted</c>): a host with many addresses can then hold at most this many places, never every place
    /// under <see cref="MaxConnections"/>, and a device whose CONNECT follows its TCP connect within milliseconds gets
    /// in unless a flood opens more than this many connections in those milliseconds. Logged-in devices are never
    /// closed for it. Unset: a fifth of <see cref="MaxConnections"/> (100 of 500, leaving 400 places for logged-in
    /// devices, twice a 200-monitor ward), so a configuration that lowered MaxConnections stays valid. Set, it must be
    /// below <see cref="MaxConnections"/>. See <see cref="EffectiveMaxPendingConnections"/>.
    /// </summary>
    public int? MaxPendingConnections { get; set; }

    /// <summary><see cref="MaxPendingConnections"/>, or a fifth of <see cref="MaxConnections"/> (at least 1) when it is not set.</summary>
    public int EffectiveMaxPendingConnections => MaxPendingConnections ?? Math.Max(1, MaxConnections / 5);

    /// <summary>
    /// Connections from one IP address that have not logged in yet (TLS handshake or CONNECT under way). Without it one
    /// host could take every place under <see cref="MaxConnections"/> and renew them each <see cref="ConnectTimeout"/>,
    /// locking every monitor out. A device holds such a place for milliseconds; raise it if many devices share one
    /// address (NAT) and reconnect at once.
    /// </summary>
    public int MaxPendingConnectionsPerAddress { get; set; } = 50;

    /// <summary>The largest packet before the CONNECT is accepted (the CONNECT itself: client id, credentials, will).</summary>
    public int MaxConnectPacketBytes { get; set; } = 64 * 1024;

    /// <summary>A TLS client that has not finished its handshake by then is closed.</summary>
    public TimeSpan TlsHandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A client whose CONNECT has not been accepted by then (counted after the TLS handshake) is closed.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        if (MaxConnections is < 1 or > 100_000)
        {
            errors.Add($"{section}:MaxConnections must be between 1 and 100000.");
        }

        if (MaxPendingConnectionsPerAddress is < 1 or > 100_000)
        {
            errors.Add($"{section}:MaxPendingConnectionsPerAddress must be between 1 and 100000.");
        }

        if (MaxPendingConnections is < 1 or > 100_000)
        {
            errors.Add($"{section}:MaxPendingConnections must be between 1 and 100000.");
        }
        else if (MaxPendingConnections is { } pending && MaxConnections is >= 1 and <= 100_000 && pending >= MaxConnections)
        {
            // At MaxConnections the newcomer is refused rather than an older pending one closed: pending connections
            // must not be able to fill every place, or a host that holds them locks every device out.
            errors.Add($"{section}:MaxPendingConnections must be below {section}:MaxConnections ({MaxConnections}), so connections that never log in cannot take every place.");
        }

        // 128 bytes hold a CONNECT with a short client id and password; 1 MiB is far beyond any device's CONNECT.
        if (MaxConnectPacketBytes is < 128 or > 1 << 20)
        {
            errors.Add($"{section}:MaxConnectPacketBytes must be between 128 and 1048576 (1 MiB).");
        }

        foreach (var (name, value) in new[] { ("TlsHandshakeTimeout", TlsHandshakeTimeout), ("ConnectTimeout", ConnectTimeout) })
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromMinutes(5))
            {
                errors.Add($"{section}:{name} must be more than 0 and at most 5 minutes (00:05:00).");
            }
        }

        return errors;
    }

    public override string ToString() =>
        $"MaxConnections={MaxConnections}, MaxPendingConnections={EffectiveMaxPendingConnections}, MaxPendingConnectionsPerAddress={MaxPendingConnectionsPerAddress}, MaxConnectPacketBytes={MaxConnectPacketBytes}, TlsHandshakeTimeout={TlsHandshakeTimeout}, ConnectTimeout={ConnectTimeout}";
}
