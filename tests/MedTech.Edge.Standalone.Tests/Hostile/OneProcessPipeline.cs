using System.Globalization;
using System.Text;
using System.Text.Json;
using MedTech.Edge.Buffer;
using MedTech.Edge.Gateway;
using MedTech.Edge.Standalone.LocalStore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// The one-process pipeline as <c>medtech run</c> composes it (embedded MQTT broker, LiteDB buffer, normalization,
/// the in-process writer, the local FHIR store), on the hostile-input mappings, for tests that attack it from a
/// device's side: publish something hostile, then a good reading from another device, and see where each ended.
/// </summary>
internal sealed class OneProcessPipeline : IAsyncDisposable
{
    public const string GoodDevice = "monitor-good";
    public const int MaxMessageBytes = 256 * 1024;
    private static readonly DateTime Start = DateTime.UtcNow.Date.AddHours(-12);
    private readonly string folder;
    private int goodReadings;

    private OneProcessPipeline(string folder, IHost host, int port)
    {
        this.folder = folder;
        Host = host;
        Port = port;
    }

    public IHost Host { get; }

    public int Port { get; }

    public GatewayStore Store => Host.Services.GetRequiredService<GatewayStore>();

    /// <summary>The host is still running: nothing asked it to stop (a worker that failed would have).</summary>
    public bool Running => !Host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;

    public static async Task<OneProcessPipeline> StartAsync(string folder, Dictionary<string, string?>? settings = null)
    {
        var deviceMapping = Path.Combine(folder, "devicecontent.json");
        var fhirMapping = Path.Combine(folder, "fhirmapping.json");
        await File.WriteAllTextAsync(deviceMapping, HostileMappings.Device);
        await File.WriteAllTextAsync(fhirMapping, HostileMappings.Fhir);
        var port = Ports.Free();
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var config = new Dictionary<string, string?>
        {
            ["Buffer:Path"] = Path.Combine(folder, "gateway.db"),
            ["Mqtt:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt:AllowAnonymous"] = "true",
            ["Mqtt:BindAddress"] = "127.0.0.1",
            ["Mqtt:MaxMessageBytes"] = MaxMessageBytes.ToString(CultureInfo.InvariantCulture),
            ["Gateway:DeviceMappingPath"] = deviceMapping,
            ["Writer:FhirMappingPath"] = fhirMapping,
            ["ResourceIdentity:ResourceIdentityServiceType"] = "Create",
            ["Persistence:MaxBatchWait"] = "00:00:00.100",
            ["Monitoring:Port"] = "0",
        };
        foreach (var (key, value) in settings ?? [])
        {
            config[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(config);
        builder.AddEdgeGateway().AddOutboxWriter(Path.Combine(folder, "fhir.db"));
        var host = builder.Build();
        await host.StartAsync();
        return new OneProcessPipeline(folder, host, port);
    }

    /// <summary>A connected device client (MQTT 5 unless told otherwise).</summary>
    public async Task<IMqttClient> ConnectAsync(string clientId, MqttProtocolVersion version = MqttProtocolVersion.V500, string? password = null)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Port).WithClientId(clientId).WithProtocolVersion(version)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (password is not null)
        {
            options = options.WithCredentials(clientId, password);
        }

        await client.ConnectAsync(options.Build());
        return client;
    }

    public static MqttApplicationMessage Message(string topic, byte[] payload, params (string Name, string Value)[] properties)
    {
        var builder = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        foreach (var (name, value) in properties)
        {
            builder.WithUserProperty(name, Encoding.UTF8.GetBytes(value).AsMemory());
        }

        return builder.Build();
    }

    public static byte[] Reading(string deviceId, string patientId, string timestamp, string heartRate = "72") =>
        Encoding.UTF8.GetBytes($$"""{"deviceId":{{JsonSerializer.Serialize(deviceId)}},"patientId":{{JsonSerializer.Serialize(patientId)}},"timestamp":{{JsonSerializer.Serialize(timestamp)}},"heartRate":{{heartRate}}}""");

    /// <summary>
    /// A good heart-rate reading from <see cref="GoodDevice"/> (its own connection), then waits until it is an
    /// Observation in the local FHIR store: the pipeline still moves after whatever came before.
    /// </summary>
    public async Task AssertGoodReadingIsChartedAsync()
    {
        var time = Start.AddSeconds(Interlocked.Increment(ref goodReadings));
        var timestamp = time.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        using var client = await ConnectAsync(GoodDevice);
        var ack = await client.PublishAsync(Message($"devices/{GoodDevice}/vitals", Reading(GoodDevice, "patient-good", timestamp)));
        Assert.True(ack.IsSuccess, ack.ReasonCode.ToString());
        await Eventually.HoldsAsync(() => Observations().Any(o => o.Contains($"\"start\":\"{time:yyyy-MM-ddTHH:mm:ss}", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), () => $"the good reading at {timestamp} to be charted; running: {Running}; buffer: {Store.Stats()}");
        Assert.True(Running);
    }

    /// <summary>
    /// Waits until the inbox and outbox are empty (everything normalized or dead-lettered, written or dead-lettered),
    /// then checks the buffer's accounting: every message committed is normalized, dead-lettered or dropped.
    /// </summary>
    public async Task<BufferStats> DrainedAsync()
    {
        await Eventually.HoldsAsync(() => Store.Stats() is { Inbox: 0, Outbox: 0 }, TimeSpan.FromSeconds(60), () => $"the buffer to drain: {Store.Stats()}");
        var stats = Store.Stats();
        Assert.True(stats.Unaccounted == 0, $"unaccounted messages: {stats}");
        return stats;
    }

    /// <summary>The one dead letter whose message came from <paramref name="clientId"/>, once there is one.</summary>
    public async Task<DeadLetter> DeadLetterOfAsync(string clientId)
    {
        await Eventually.HoldsAsync(() => Store.ListDeadLetters().Any(d => d.Message.ClientId == clientId), TimeSpan.FromSeconds(30),
            () => $"a dead letter of {clientId}; running: {Running}; buffer: {Store.Stats()}");
        return Store.ListDeadLetters().Single(d => d.Message.ClientId == clientId);
    }

    /// <summary>The one measurement group dead-lettered downstream of Normalize (the writer's) with <paramref name="key"/>, once there is one.</summary>
    public async Task<GroupDeadLetter> GroupDeadLetterOfAsync(string key)
    {
        await Eventually.HoldsAsync(() => Store.ListGroupDeadLetters().Any(d => d.Key == key), TimeSpan.FromSeconds(30),
            () => $"a group dead letter of {key}; running: {Running}; buffer: {Store.Stats()}");
        return Store.ListGroupDeadLetters().Single(d => d.Key == key);
    }

    /// <summary>The Observations in the local FHIR store, as JSON lines.</summary>
    public List<string> Observations()
    {
        using var output = new StringWriter();
        Host.Services.GetRequiredService<LocalFhirStore>().ExportNdjson(output);
        return output.ToString().Split('\n').Where(l => l.Contains("\"resourceType\":\"Observation\"", StringComparison.Ordinal)).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Host.StopAsync(stop.Token);
        Host.Dispose();
        _ = folder;
    }
}
