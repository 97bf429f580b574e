using System.Net;
using System.Net.Sockets;
using Confluent.Kafka;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>The whole gateway host: a real MQTT client → embedded broker → LiteDB file → normalization → librdkafka's mock cluster.</summary>
public sealed class GatewayHostTests : IDisposable
{
    private const string Mapping = "bench/device-mapping-calculated-jsonpath.json";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-host-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = FreePort();

    public GatewayHostTests() => cluster.CreateTopic("measurements", 4);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenARunningGateway_WhenABedsideMonitorPublishes_ThenItsMeasurementGroupsReachTheHub()
    {
        using var host = Build(Config());
        await host.StartAsync();
        var message = await File.ReadAllBytesAsync(Reference.PathOf("bench/message-bedside-monitor.json"));
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("monitor-1").WithCredentials("monitor-1", "pw").Build());

        var ack = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/monitor-1/vitals").WithPayload(message)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        Assert.True(ack.IsSuccess);
        var expected = new Normalizer(Reference.Mapping(Mapping)).Normalize(new DeviceMessage(message, DateTime.UtcNow)).Measurements.Count;
        var received = Consume(TimeSpan.FromSeconds(30), expected);
        Assert.Equal(expected, received.Sum(m => MeasurementGroupJson.Deserialize(m).Measurements.Count));
        await host.StopAsync();
    }

    [Theory]
    [InlineData("Hub:BootstrapServers", "kafka.hospital.example:9092", "Hub:BootstrapServers without a connection string")]
    [InlineData("Mqtt:Devices:monitor-1", null, "Mqtt:Devices is empty and Mqtt:AllowAnonymous is false")]
    [InlineData("Buffer:MaxMessages", "0", "Buffer:MaxMessages")]
    public async Task GivenInvalidConfiguration_WhenTheGatewayStarts_ThenStartUpStopsNamingTheField(string key, string? value, string expected)
    {
        var config = Config();
        if (value is null)
        {
            config.Remove(key);
        }
        else
        {
            config[key] = value;
        }

        using var host = Build(config);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(ex.Failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task GivenAnInvalidDeviceMapping_WhenTheGatewayStarts_ThenStartUpStopsWithEveryErrorAndItsLine()
    {
        var config = Config();
        config["Gateway:DeviceMappingPath"] = Reference.PathOf($"{Reference.IomtTestInput}/data_CollectionContentTemplateMixedValidity.json");
        using var host = Build(config);

        var ex = await Assert.ThrowsAsync<MedTech.Edge.Mapping.Templates.InvalidMappingException>(() => host.StartAsync());

        Assert.Contains("line 41", ex.Message);
    }

    private Dictionary<string, string?> Config() => new()
    {
        ["Gateway:DeviceMappingPath"] = Reference.PathOf(Mapping),
        ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
        ["Mqtt:Port"] = port.ToString(),
        ["Mqtt:Devices:monitor-1"] = "pw",
        ["Mqtt:DeviceTopicPattern"] = "devices/{clientId}/",
        ["Hub:BootstrapServers"] = cluster.BootstrapServers,
        ["Hub:Topic"] = "measurements",
    };

    private static IHost Build(Dictionary<string, string?> config)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(config);
        builder.AddEdgeGateway();
        return builder.Build();
    }

    private List<byte[]> Consume(TimeSpan timeout, int measurements)
    {
        var options = new HubOptions { BootstrapServers = cluster.BootstrapServers, Topic = "measurements" };
        using var consumer = new ConsumerBuilder<string, byte[]>(HubClientConfig.Consumer(options, "test")).Build();
        consumer.Subscribe("measurements");
        var received = new List<byte[]>();
        var deadline = DateTime.UtcNow + timeout;
        while (received.Sum(m => MeasurementGroupJson.Deserialize(m).Measurements.Count) < measurements && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { } result)
            {
                received.Add(result.Message.Value);
            }
        }

        return received;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
