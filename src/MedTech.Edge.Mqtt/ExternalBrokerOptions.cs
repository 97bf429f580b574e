namespace MedTech.Edge.Mqtt;

/// <summary>The external broker the gateway subscribes to (section <c>Mqtt:External</c>, with <c>Mqtt:Mode</c> = External).</summary>
public sealed class ExternalBrokerOptions
{
    public string? Host { get; set; }

    public int Port { get; set; } = 8883;

    /// <summary>TLS to the broker; plain text only to a broker on loopback (tests) or inside the module network with <see cref="AllowPlainText"/>.</summary>
    public bool UseTls { get; set; } = true;

    /// <summary>PEM file of the CA that issued the broker's certificate, when it is not in the system store.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>Plain text to a broker that is not on loopback: only on a network no one else is on (the IoT Edge module network).</summary>
    public bool AllowPlainText { get; set; }

    public string? Username { get; set; }

    /// <summary>Secret: from a secret file, never the deployment manifest.</summary>
    public string? Password { get; set; }

    /// <summary>The gateway's client id; its persistent session at the broker is kept under it.</summary>
    public string ClientId { get; set; } = "medtech-gateway";

    /// <summary>Topic filters subscribed with QoS 1.</summary>
    public List<string> TopicFilters { get; set; } = ["devices/#"];

    /// <summary>How long the broker keeps the gateway's session (and queues for it) while the gateway is away.</summary>
    public TimeSpan SessionExpiry { get; set; } = TimeSpan.FromDays(7);
}
