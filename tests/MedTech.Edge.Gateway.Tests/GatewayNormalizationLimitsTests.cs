using System.Globalization;
using Confluent.Kafka;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hub;
using MedTech.Edge.Mapping.Grouping;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Normalize's limits through the whole gateway: a real MQTT client → embedded broker → LiteDB file → normalization
/// (limits from configuration) → librdkafka's mock cluster.
/// </summary>
public sealed class GatewayNormalizationLimitsTests : IDisposable
{
    // A heart-rate template, and one whose type match runs a backtracking regex from the mapping on a device value.
    private const string MappingJson = """
        { "templateType": "CollectionContent", "template": [
          { "templateType": "CalculatedContent", "template": {
            "typeName": "heartrate", "typeMatchExpression": "$..[?(@hr)]", "deviceIdExpression": "$.matchedToken.device",
            "patientIdExpression": "$.matchedToken.patient", "timestampExpression": "$.matchedToken.time",
            "values": [ { "valueName": "hr", "valueExpression": "$.matchedToken.hr", "required": true } ] } },
          { "templateType": "CalculatedContent", "template": {
            "typeName": "coded", "typeMatchExpression": "$.Body.codes[?(@.code =~ /^(a+)+$/)]", "deviceIdExpression": "$.Body.device",
            "timestampExpression": "$.Body.time", "values": [ { "valueName": "code", "valueExpression": "$.matchedToken.code", "required": true } ] } } ] }
        """;

    private readonly string folder = Directory.CreateTempSubdirectory("medtech-limits-").FullName;
    private readonly MockCluster cluster = new();
    private readonly int port = Ports.Free();

    public GatewayNormalizationLimitsTests() => cluster.CreateTopic("measurements", 2);

    public void Dispose()
    {
        cluster.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenARegexHangAHugeIdAndAnImplausibleTime_WhenPublished_ThenEachIsADeadLetterWithItsReasonAndTheNextReadingFlows()
    {
        using var host = Build(Config());
        await host.StartAsync();
        using var hostile = new MqttClientFactory().CreateMqttClient();
        using var neighbour = new MqttClientFactory().CreateMqttClient();
        await hostile.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-1").Build());
        await neighbour.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("bed-2").Build());
        var now = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture);

        string[] payloads =
        [
            $$"""{"device": "bed-1", "time": "{{now}}", "codes": [{"code": "{{new string('a', 48)}}!"}]}""",
            $$"""{"hr": 60, "device": "{{new string('d', 300_000)}}", "patient": "p", "time": "{{now}}"}""",
            $$"""{"hr": 60, "device": "bed-1", "patient": "{{new string('p', 300_000)}}", "time": "{{now}}"}""",
            """{"hr": 60, "device": "bed-1", "patient": "p", "time": "1970-01-01T00:00:00Z"}""",
        ];
        foreach (var payload in payloads)
        {
            Assert.True((await hostile.PublishAsync(Qos1("devices/bed-1/x", payload))).IsSuccess);
        }

        Assert.True((await neighbour.PublishAsync(Qos1("devices/bed-2/x", $$"""{"hr": 72, "device": "bed-2", "patient": "p2", "time": "{{now}}"}"""))).IsSuccess);

        var received = HubReader.Read(cluster.BootstrapServers, "measurements", r => Measurements(r).Any(m => m.DeviceId == "bed-2"), TimeSpan.FromSeconds(60));
        var store = host.Services.GetRequiredService<GatewayStore>();
        await Eventually.HoldsAsync(() => store.Stats().DeadLetters == 4, TimeSpan.FromSeconds(60));

        // Each consumer was given its part of the one store the host holds (one file, one transaction per step).
        Assert.Same(store.Inbox, host.Services.GetRequiredService<IInboxStore>());
        Assert.Same(store.Inbox, host.Services.GetRequiredService<INormalizationInput>());
        Assert.Same(store.Outbox, host.Services.GetRequiredService<IOutbox>());
        Assert.Same(store.DeadLetters, host.Services.GetRequiredService<IDeadLetters>());
        Assert.Same(store.Upkeep, host.Services.GetRequiredService<IBufferUpkeep>());

        Assert.Equal("72", Assert.Single(Measurements(received)).Properties[0].Value);
        var deadLetters = store.ListDeadLetters().OrderBy(d => d.Id).ToList();
        Assert.Equal(["TemplateExpressionException", "IncompatibleDataException", "IncompatibleDataException", "IncompatibleDataException"], deadLetters.Select(d => d.Code));
        Assert.Contains("RegexMatchTimeout", deadLetters[0].Reason);
        Assert.Contains("[deviceIdExpression] is 300000 characters long", deadLetters[1].Reason);
        Assert.Contains("[patientIdExpression] is 300000 characters long", deadLetters[2].Reason);
        Assert.Contains("PlausiblePast", deadLetters[3].Reason);
        Assert.Equal(payloads, deadLetters.Select(d => System.Text.Encoding.UTF8.GetString(d.Message.Payload.Span)));
        await host.StopAsync();
    }

    [Theory]
    [InlineData("Gateway:Normalization:MaxTimePerMessage", "00:00:00")]
    [InlineData("Gateway:Normalization:RegexMatchTimeout", "00:20:00")]
    [InlineData("Gateway:Normalization:PlausibleFuture", "-1.00:00:00")]
    [InlineData("Gateway:Normalization:MaxIdentifierLength", "0")]
    public async Task GivenAnInvalidNormalizationLimit_WhenTheGatewayStarts_ThenStartUpStopsNamingIt(string key, string value)
    {
        var config = Config();
        config[key] = value;
        using var host = Build(config);

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains(key, ex.Message);
    }

    private static MqttApplicationMessage Qos1(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    private static List<Mapping.Normalization.Measurement> Measurements(List<Message<string, byte[]>> messages) =>
        messages.SelectMany(m => PackedMessage.Split(m.Value)).SelectMany(g => MeasurementGroupJson.Deserialize(g.Span).Measurements).ToList();

    private Dictionary<string, string?> Config()
    {
        var mapping = Path.Combine(folder, "devicecontent.json");
        File.WriteAllText(mapping, MappingJson);
        return new()
        {
            ["Gateway:DeviceMappingPath"] = mapping,
            ["Gateway:Normalization:RegexMatchTimeout"] = "00:00:00.050",
            ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt:AllowAnonymous"] = "true",
            ["Mqtt:MaxMessageBytes"] = "1048576",
            ["Hub:BootstrapServers"] = cluster.BootstrapServers,
            ["Hub:Topic"] = "measurements",
            ["Monitoring:Port"] = Ports.Free().ToString(CultureInfo.InvariantCulture),
        };
    }

    private static IHost Build(Dictionary<string, string?> config)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(config);
        builder.AddEdgeGateway().AddHubForwarding();
        return builder.Build();
    }
}
