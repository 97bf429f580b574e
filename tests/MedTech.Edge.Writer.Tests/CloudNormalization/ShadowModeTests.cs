using System.Text.Json;
using Confluent.Kafka;
using Hl7.Fhir.Model;
using Microsoft.Extensions.Hosting;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Writer.Tests.CloudNormalization;

/// <summary>
/// <c>Writer:Shadow</c> through real parts: after a writer wrote the Observations (as MedTech would have), a shadow
/// writer on the same device messages reports them all matching; a stored Observation changed behind its back is
/// reported as differing in its value, readings the server does not have as missing; and it writes nothing.
/// </summary>
public sealed class ShadowModeTests : WriterPipelineTest
{
    public ShadowModeTests()
        : base("medtech-shadow-", ("devices", 2))
    {
    }

    [Fact]
    public async Task GivenObservationsAWriterWrote_WhenAShadowWriterRunsOnTheSameMessages_ThenItReportsMatchesThePlantedDifferenceAndTheMissingAndWritesNothing()
    {
        var messages = VitalSigns.Messages(devices: 2, perDevice: 5);
        var fhir = VitalSigns.Client(server.BaseUrl);
        using var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build();
        foreach (var m in messages)
        {
            await producer.ProduceAsync("devices", new Message<string, byte[]> { Key = m.DeviceId, Value = m.Json(), Timestamp = new Confluent.Kafka.Timestamp(m.Time.AddSeconds(1)) });
        }

        using (var writer = Writer("fhir-writer", shadow: false))
        {
            await writer.StartAsync();
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count == messages.Count * VitalSigns.ObservationsPerMessage, TimeSpan.FromSeconds(60));
            await writer.StopAsync();
        }

        // A deliberate difference: one heart rate changed on the server; and one more message, whose Observations the server lacks.
        var planted = (await VitalSigns.ObservationsAsync(fhir)).First(o => o.Code.Coding[0].Code == "8867-4");
        ((Quantity)planted.Value!).Value = 999;
        await fhir.PutAsync(planted, null, CancellationToken.None);
        var extra = messages[0] with { Time = messages[0].Time.AddMinutes(5) };
        await producer.ProduceAsync("devices", new Message<string, byte[]> { Key = extra.DeviceId, Value = extra.Json(), Timestamp = new Confluent.Kafka.Timestamp(extra.Time.AddSeconds(1)) });
        var before = (await VitalSigns.ObservationsAsync(fhir)).ToDictionary(o => o.Id!, o => o.Meta!.VersionId);

        var reportPath = Path.Combine(folder, "shadow-report.json");
        var total = (messages.Count + 1) * VitalSigns.ObservationsPerMessage;
        using (var shadow = Writer("fhir-writer-shadow", shadow: true, reportPath))
        {
            await shadow.StartAsync();
            await Eventually.HoldsAsync(() => Read(reportPath) is { } r && r.Matching + r.Differing + r.Missing >= total, TimeSpan.FromSeconds(60),
                () => File.Exists(reportPath) ? File.ReadAllText(reportPath) : "no report yet");
            await shadow.StopAsync();
        }

        var report = Read(reportPath)!;
        Assert.Equal((total - 1 - VitalSigns.ObservationsPerMessage, 1, VitalSigns.ObservationsPerMessage), (report.Matching, report.Differing, report.Missing));
        var difference = Assert.Single(report.FirstDifferences);
        Assert.Equal((planted.Id, "value"), (difference.ObservationId, difference.Element));
        Assert.StartsWith("999 ", difference.Stored, StringComparison.Ordinal);
        Assert.Contains(messages, m => difference.Computed.StartsWith($"{m.HeartRate} ", StringComparison.Ordinal));
        Assert.Empty(report.Failed);

        // Nothing written: the same Observations in the same versions, the planted value kept, no dead letter.
        Assert.Equal(before, (await VitalSigns.ObservationsAsync(fhir)).ToDictionary(o => o.Id!, o => o.Meta!.VersionId));
        Assert.Empty(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", _ => false, TimeSpan.FromSeconds(2)));
    }

    private IHost Writer(string group, bool shadow, string? reportPath = null) => TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers, extra: new()
    {
        ["Hub:Topic"] = "devices",
        ["Writer:Input"] = "DeviceMessages",
        ["Writer:DeviceMappingPath"] = VitalSigns.DeviceMapping,
        ["Writer:ConsumerGroup"] = group,
        ["Writer:InHandPath"] = Path.Combine(folder, $"{group}-inhand.json"),
        ["Writer:Shadow"] = shadow ? "true" : "false",
        ["Writer:ShadowReportPath"] = reportPath ?? Path.Combine(folder, "unused.json"),
    });

    private static readonly JsonSerializerOptions ReportJson = new() { PropertyNameCaseInsensitive = true };

    private static ShadowRun.Report? Read(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<ShadowRun.Report>(File.ReadAllBytes(path), ReportJson) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
