using Confluent.Kafka;

namespace MedTech.Edge.Hub.Tests;

public class EventHubsConnectionStringTests
{
    private const string Connection = "Endpoint=sb://ward-hub.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0LWtleQ==;EntityPath=measurements";

    [Fact]
    public void GivenAConnectionString_WhenParsed_ThenTheKafkaEndpointAndTopicAreDerived()
    {
        var parsed = EventHubsConnectionString.Parse(Connection);

        Assert.Equal(("ward-hub.servicebus.windows.net:9093", "measurements"), (parsed.BootstrapServers, parsed.EntityPath));
        Assert.DoesNotContain("c2VjcmV0", parsed.ToString());
    }

    [Fact]
    public void GivenHubOptionsWithAConnectionString_WhenAProducerIsConfigured_ThenItIsSaslSslPlainWithTheConnectionStringAsPassword()
    {
        var options = new HubOptions { ConnectionString = Connection };

        var config = HubClientConfig.Producer(options);

        Assert.Empty(options.Validate());
        Assert.Equal("measurements", HubClientConfig.Topic(options));
        Assert.Equal(("ward-hub.servicebus.windows.net:9093", SecurityProtocol.SaslSsl, SaslMechanism.Plain), (config.BootstrapServers, config.SecurityProtocol, config.SaslMechanism));
        Assert.Equal(("$ConnectionString", Connection), (config.SaslUsername, config.SaslPassword));
        Assert.Equal((true, Acks.All, CompressionType.None), (config.EnableIdempotence, config.Acks, config.CompressionType));
        // Microsoft's Kafka client settings for Event Hubs (apache-kafka-configurations).
        Assert.Equal((true, 180_000, 180_000, 60_000, 1_000_000), (config.SocketKeepaliveEnable, config.MetadataMaxAgeMs, config.ConnectionsMaxIdleMs, config.RequestTimeoutMs, config.MessageMaxBytes));
        Assert.DoesNotContain("c2VjcmV0", options.ToString());
    }

    [Theory]
    [InlineData("Endpoint=https://x.example/;SharedAccessKeyName=a;SharedAccessKey=b", null, null, "Hub:ConnectionString: The Event Hubs connection string needs Endpoint=sb://")]
    [InlineData("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b", null, null, "Hub:Topic is required")]
    [InlineData(null, "kafka.hospital.example:9092", "t", "Hub:BootstrapServers without a connection string is plain-text Kafka")]
    [InlineData(null, null, null, "Hub:ConnectionString, or Hub:BootstrapServers with Hub:Topic, is required.")]
    public void GivenUnusableHubOptions_WhenValidated_ThenTheErrorNamesTheField(string? connection, string? bootstrap, string? topic, string expected)
    {
        var options = new HubOptions { ConnectionString = connection, BootstrapServers = bootstrap, Topic = topic };

        Assert.Contains(options.Validate(), e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(-1, false)]
    [InlineData(0, true)]
    [InlineData(256 * 1024, true)]
    [InlineData(256 * 1024 + 1, false)]
    public void GivenAPackSize_WhenValidated_ThenOnlyZeroToEventHubsBasicsMessageLimitIsAccepted(int packUpToBytes, bool valid)
    {
        var options = new HubOptions { BootstrapServers = "127.0.0.1:9092", Topic = "t", PackUpToBytes = packUpToBytes };

        Assert.Equal(valid ? [] : ["Hub:PackUpToBytes must be between 0 (no packing) and 262144 (Event Hubs Basic's message limit)."], options.Validate());
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("ward-7-gateway", true)]
    [InlineData("ward\u0000gw", false)]
    [InlineData("ward\ngw", false)]
    public void GivenAGatewayName_WhenValidated_ThenOnlyAShortNameWithoutControlCharactersIsAccepted(string? name, bool valid)
    {
        var options = new HubOptions { BootstrapServers = "127.0.0.1:9092", Topic = "t", GatewayName = name };

        Assert.Equal(valid ? [] : ["Hub:GatewayName must have at most 128 characters and no control characters."], options.Validate());
    }

    [Fact]
    public void GivenAMegabyteGatewayName_WhenValidated_ThenItIsRefused() =>
        Assert.Single(new HubOptions { BootstrapServers = "127.0.0.1:9092", Topic = "t", GatewayName = new string('g', 1 << 20) }.Validate());
}
