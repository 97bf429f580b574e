using System.Globalization;
using System.Text.Json.Nodes;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// Identity binding through the whole one-process pipeline (embedded broker with device passwords, or Mosquitto in
/// external mode; LiteDB buffer; Normalize; the writer; the local FHIR store): a device that reports in another
/// device's name is dead-lettered and no Observation of the other device appears; a relay reports for the monitors it
/// is configured for; anonymous mode is not bound.
/// </summary>
public sealed class DeviceIdentityPipelineTests : IDisposable
{
    private static readonly DateTime Start = DateTime.UtcNow.Date.AddHours(-6);
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-identity-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenDevicePasswords_WhenADevicePublishesInAnotherDevicesName_ThenItIsADeviceIdentityMismatchAndNoObservationOfTheOtherDeviceAppears()
    {
        await using var pipeline = await OneProcessPipeline.StartAsync(folder, Secured(folder, ("monitor-01", "pw-1"), ("monitor-02", "pw-2")));
        using var liar = await pipeline.ConnectAsync("monitor-01", password: "pw-1");

        var lie = await liar.PublishAsync(OneProcessPipeline.Message("devices/monitor-01/vitals", OneProcessPipeline.Reading("monitor-02", "patient-2", Time(1))));
        var letter = await pipeline.DeadLetterOfAsync("monitor-01");
        await PublishAndAwaitChartedAsync(pipeline, liar, "devices/monitor-01/vitals", "monitor-01", "patient-1", 2);

        Assert.True(lie.IsSuccess, "the lie is stored, then dead-lettered (the device is not told)");
        Assert.Equal(ErrorCodes.DeviceIdentityMismatch, letter.Code);
        var stats = await pipeline.DrainedAsync();
        Assert.Equal(1, stats.DeadLettered);
        Assert.Empty(ObservationsOf(pipeline, "monitor-02"));
        Assert.Single(ObservationsOf(pipeline, "monitor-01"));
    }

    [Fact]
    public async Task GivenARelayAllowedToReportForTwoMonitors_WhenItReportsBoth_ThenBothAreChartedAndAThirdIsDeadLettered()
    {
        var settings = Secured(folder, ("central-01", "pw-c"));
        settings["Gateway:Identity:ReportsFor:central-01:0"] = "monitor-01";
        settings["Gateway:Identity:ReportsFor:central-01:1"] = "monitor-02";
        await using var pipeline = await OneProcessPipeline.StartAsync(folder, settings);
        using var relay = await pipeline.ConnectAsync("central-01", password: "pw-c");

        Assert.True((await relay.PublishAsync(OneProcessPipeline.Message("devices/central-01/vitals", OneProcessPipeline.Reading("monitor-03", "patient-3", Time(1))))).IsSuccess);
        await PublishAndAwaitChartedAsync(pipeline, relay, "devices/central-01/vitals", "monitor-01", "patient-1", 2);
        await PublishAndAwaitChartedAsync(pipeline, relay, "devices/central-01/vitals", "monitor-02", "patient-2", 3);

        Assert.Equal(ErrorCodes.DeviceIdentityMismatch, (await pipeline.DeadLetterOfAsync("central-01")).Code);
        await pipeline.DrainedAsync();
        Assert.Empty(ObservationsOf(pipeline, "monitor-03"));
        Assert.Empty(ObservationsOf(pipeline, "central-01"));
    }

    [Fact]
    public async Task GivenAnonymousMode_WhenAClientReportsAnyDeviceId_ThenItIsChartedUnbound()
    {
        await using var pipeline = await OneProcessPipeline.StartAsync(folder);
        using var anonymous = await pipeline.ConnectAsync("someone");

        await PublishAndAwaitChartedAsync(pipeline, anonymous, "devices/someone/vitals", "monitor-02", "patient-2", 1);

        Assert.Equal(0, (await pipeline.DrainedAsync()).DeadLetters);
    }

    [Fact]
    public async Task GivenExternalModeWithMosquitto_WhenTheTopicsDeviceDiffersFromThePayloads_ThenItIsDeadLetteredAndTheDevicesOwnReadingIsCharted()
    {
        using var mosquitto = new Mosquitto();
        await using var pipeline = await OneProcessPipeline.StartAsync(folder, new Dictionary<string, string?>
        {
            ["Mqtt:Mode"] = "External",
            ["Mqtt:External:Host"] = "127.0.0.1",
            ["Mqtt:External:Port"] = mosquitto.Port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt:External:UseTls"] = "false",
            ["Mqtt:External:ClientId"] = "gateway-" + Guid.NewGuid().ToString("N"),
            ["Mqtt:DeviceTopicPattern"] = "devices/{clientId}/",
        });
        var ingest = (ExternalBrokerClient)pipeline.Host.Services.GetRequiredService<IMqttIngest>();
        await Eventually.HoldsAsync(() => ingest.IsSubscribed, TimeSpan.FromSeconds(30), () => "the gateway to subscribe at Mosquitto");
        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", mosquitto.Port).WithClientId("monitor-01").Build());

        Assert.True((await device.PublishAsync(OneProcessPipeline.Message("devices/monitor-01/vitals", OneProcessPipeline.Reading("monitor-02", "patient-2", Time(1))))).IsSuccess);
        await PublishAndAwaitChartedAsync(pipeline, device, "devices/monitor-01/vitals", "monitor-01", "patient-1", 2);

        Assert.Equal(ErrorCodes.DeviceIdentityMismatch, (await pipeline.DeadLetterOfAsync("monitor-01")).Code);
        await pipeline.DrainedAsync();
        Assert.Empty(ObservationsOf(pipeline, "monitor-02"));
    }

    /// <summary>Embedded broker with these device passwords (a mosquitto_passwd file in <paramref name="folder"/>) and no anonymous clients.</summary>
    internal static Dictionary<string, string?> Secured(string folder, params (string Device, string Password)[] devices)
    {
        var passwords = Path.Combine(folder, "mqtt-passwords");
        for (var i = 0; i < devices.Length; i++)
        {
            MosquittoPasswd.Add(passwords, devices[i].Device, devices[i].Password, create: i == 0);
        }

        return new Dictionary<string, string?> { ["Mqtt:AllowAnonymous"] = "false", ["Mqtt:PasswordFile"] = passwords };
    }

    internal static string Time(int second) => Start.AddSeconds(second).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>Publishes a heart rate of <paramref name="deviceId"/> at second <paramref name="second"/> and waits for its Observation.</summary>
    internal static async Task PublishAndAwaitChartedAsync(OneProcessPipeline pipeline, IMqttClient client, string topic, string deviceId, string patientId, int second)
    {
        var ack = await client.PublishAsync(OneProcessPipeline.Message(topic, OneProcessPipeline.Reading(deviceId, patientId, Time(second))));
        Assert.True(ack.IsSuccess, ack.ReasonCode.ToString());
        await Eventually.HoldsAsync(() => Charted(pipeline, deviceId, second), TimeSpan.FromSeconds(30),
            () => $"the reading of {deviceId} at {second} s to be charted; buffer: {pipeline.Store.Stats()}");
    }

    /// <summary>The reading of <paramref name="deviceId"/> at second <paramref name="second"/> is an Observation.</summary>
    internal static bool Charted(OneProcessPipeline pipeline, string deviceId, int second) =>
        ObservationsOf(pipeline, deviceId).Any(o => o.Contains($"\"start\":\"{Start.AddSeconds(second):yyyy-MM-ddTHH:mm:ss}", StringComparison.Ordinal));

    /// <summary>
    /// The Observations (JSON) that reference the Device whose identifier is <paramref name="deviceId"/> in the local
    /// FHIR store; the logical ids are hashes, so the Device resource is what names the device.
    /// </summary>
    internal static List<string> ObservationsOf(OneProcessPipeline pipeline, string deviceId)
    {
        using var output = new StringWriter();
        pipeline.Host.Services.GetRequiredService<LocalStore.LocalFhirStore>().ExportNdjson(output);
        var resources = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => (Line: line, Json: JsonNode.Parse(line)!)).ToList();
        var devices = resources.Where(r => (string?)r.Json["resourceType"] == "Device"
                && r.Json["identifier"]!.AsArray().Any(i => (string?)i!["value"] == deviceId))
            .Select(r => $"Device/{(string?)r.Json["id"]}").ToHashSet(StringComparer.Ordinal);
        return resources.Where(r => (string?)r.Json["resourceType"] == "Observation" && devices.Contains((string?)r.Json["device"]?["reference"] ?? ""))
            .Select(r => r.Line).ToList();
    }
}
