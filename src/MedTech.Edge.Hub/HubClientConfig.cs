using Confluent.Kafka;

namespace MedTech.Edge.Hub;

/// <summary>Kafka client settings for the configured hub, per Microsoft's Event Hubs-for-Kafka guidance.</summary>
public static class HubClientConfig
{
    /// <summary>The topic to use: the configured one, else the connection string's event hub.</summary>
    public static string Topic(HubOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Topic is { Length: > 0 } topic ? topic : EventHubsConnectionString.Parse(options.ConnectionString!).EntityPath!;
    }

    /// <summary>
    /// An idempotent producer: acks from all replicas, no reordering on retry, no compression (Event Hubs Standard
    /// accepts none), messages within Event Hubs' 1 MB.
    /// </summary>
    public static ProducerConfig Producer(HubOptions options)
    {
        var config = new ProducerConfig(Common(options))
        {
            EnableIdempotence = true,
            Acks = Acks.All,
            // The forwarder hands over whole rounds and waits for a round's last acknowledgement: lingering for more
            // messages only delays each round's tail (drain of a backlog measured at 20 / 5 / 1 ms: ~265k / ~320k /
            // ~360k msg/s). Within a round, batches fill up on their own.
            LingerMs = 1,
            CompressionType = CompressionType.None,
            MessageMaxBytes = 1_000_000,
            MessageTimeoutMs = (int)options.DeliveryTimeout.TotalMilliseconds,
            // Microsoft's setting for Event Hubs: a throttled namespace answers late rather than with an error.
            RequestTimeoutMs = IsEventHubs(options) ? 60_000 : null,
            // A delivery report needs only its error; marshalling anything else back (key, value, status) costs per message.
            DeliveryReportFields = "none",
        };
        return config;
    }

    /// <summary>
    /// A consumer in a group whose offsets the service keeps. The caller stores an offset once its batch is persisted;
    /// librdkafka commits the stored offsets each second and on close or rebalance, because Event Hubs throttles offset
    /// commits to 4 per second per partition, which a commit per batch exceeds on a busy partition.
    /// </summary>
    public static ConsumerConfig Consumer(HubOptions options, string groupId) => new(Common(options))
    {
        GroupId = groupId,
        EnableAutoCommit = true,
        EnableAutoOffsetStore = false,
        AutoCommitIntervalMs = 1000,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        SessionTimeoutMs = (int)options.ConsumerSessionTimeout.TotalMilliseconds,
    };

    /// <summary>The Kafka endpoint of an Event Hubs namespace (a connection string or Entra ID), not a plain Kafka cluster.</summary>
    public static bool IsEventHubs(HubOptions options) =>
        options is not null && (options.ConnectionString is { Length: > 0 } || options.Authentication != HubAuthentication.ConnectionString);

    private static ClientConfig Common(HubOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Authentication != HubAuthentication.ConnectionString)
        {
            // Entra ID: SASL OAUTHBEARER with a token for https://{namespace}/.default, set by HubClients' refresh handler.
            return new ClientConfig
            {
                BootstrapServers = $"{options.FullyQualifiedNamespace}:9093",
                SecurityProtocol = SecurityProtocol.SaslSsl,
                SaslMechanism = SaslMechanism.OAuthBearer,
                SocketKeepaliveEnable = true,
                MetadataMaxAgeMs = 180_000,
                ConnectionsMaxIdleMs = 180_000,
            };
        }

        if (options.ConnectionString is { Length: > 0 } connection)
        {
            var parsed = EventHubsConnectionString.Parse(connection);
            return new ClientConfig
            {
                BootstrapServers = parsed.BootstrapServers,
                SecurityProtocol = SecurityProtocol.SaslSsl,
                SaslMechanism = SaslMechanism.Plain,
                SaslUsername = "$ConnectionString",
                SaslPassword = connection,
                // Microsoft's settings for Event Hubs, which closes connections idle for 240 s.
                SocketKeepaliveEnable = true,
                MetadataMaxAgeMs = 180_000,
                ConnectionsMaxIdleMs = 180_000,
            };
        }

        // Plain Kafka on loopback only (validated): tests against librdkafka's mock cluster.
        return new ClientConfig { BootstrapServers = options.BootstrapServers, SecurityProtocol = SecurityProtocol.Plaintext };
    }
}
