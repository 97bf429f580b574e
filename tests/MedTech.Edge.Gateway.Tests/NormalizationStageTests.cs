using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>Normalize and Group at the edge, on a real LiteDB buffer.</summary>
public sealed class NormalizationStageTests : IDisposable
{
    private static readonly string BenchMapping = Corpus.Bench("device-mapping-calculated-jsonpath.json");
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-gateway-").FullName;
    private readonly GatewayStore store;

    public NormalizationStageTests() => store = new GatewayStore(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void GivenGoodAndBadMessages_WhenNormalized_ThenGroupsGoToTheOutboxAndEachBadMessageIsDeadLetteredWithItsReason()
    {
        var bedside = File.ReadAllBytes(Corpus.Bench("message-bedside-monitor.json"));
        store.Append([Message("monitor-1", bedside), Message("monitor-1", "not json"u8.ToArray()), Message("monitor-1", "{\"unrelated\": 1}"u8.ToArray())]);

        var taken = Stage(BenchMapping).RunOnce(100);

        Assert.Equal(3, taken);
        Assert.Empty(store.ReadInbox(10));
        var groups = store.ReadOutbox(100).Select(e => MeasurementGroupJson.Deserialize(e.Payload.Span)).ToList();
        var expected = new Normalizer(Corpus.Mapping(BenchMapping)).Normalize(new DeviceMessage(bedside, DateTime.UtcNow)).Measurements;
        Assert.Equal(expected.Count, groups.Sum(g => g.Measurements.Count));
        Assert.Equal(["DroppedEvent", "InvalidDataFormatException"], store.ListDeadLetters().Select(d => d.Code).Order());
    }

    [Fact]
    public void GivenAnIotJsonPathContentMapping_WhenNormalized_ThenTheDeviceIdIsTheAuthenticatedClientAndTheTimeTheReceiveTime()
    {
        var mapping = DeviceMapping.Parse("""
            {"templateType": "CollectionContent", "template": [{"templateType": "IotJsonPathContent", "template": {
              "typeName": "heartrate", "typeMatchExpression": "$..[?(@Body.hr)]",
              "values": [{"valueName": "hr", "valueExpression": "$.Body.hr", "required": true}]}}]}
            """).EnsureValid("test");
        store.Append([Message("bed-7-monitor", "{\"hr\": 72}"u8.ToArray())]);

        new NormalizationStage(store, new DeviceMappingSource(new Normalizer(mapping)), NullLogger<NormalizationStage>.Instance).RunOnce(10);

        var entry = Assert.Single(store.ReadOutbox(10));
        var measurement = Assert.Single(MeasurementGroupJson.Deserialize(entry.Payload.Span).Measurements);
        Assert.Equal(("bed-7-monitor", "bed-7-monitor"), (entry.Key, measurement.DeviceId));
        Assert.Equal(Received, measurement.OccurrenceTimeUtc);
        Assert.Equal("72", measurement.Properties.Single().Value);
    }

    [Fact]
    public void GivenDeadLettersFromAMappingGap_WhenReplayedAfterTheFix_ThenTheyReachTheOutbox()
    {
        store.Append([Message("monitor-1", "{\"unrelated\": 1, \"deviceId\": \"d\", \"timestamp\": \"2026-11-24T08:00:00Z\"}"u8.ToArray())]);
        Stage(BenchMapping).RunOnce(10);
        var fixedMapping = DeviceMapping.Parse("""
            {"templateType": "CollectionContent", "template": [{"templateType": "CalculatedContent", "template": {
              "typeName": "unrelated", "typeMatchExpression": "$..[?(@unrelated)]", "deviceIdExpression": "$.matchedToken.deviceId",
              "timestampExpression": "$.matchedToken.timestamp",
              "values": [{"valueName": "u", "valueExpression": "$.matchedToken.unrelated", "required": true}]}}]}
            """).EnsureValid("fixed");

        var replayed = store.ReplayDeadLetters("DroppedEvent");
        new NormalizationStage(store, new DeviceMappingSource(new Normalizer(fixedMapping)), NullLogger<NormalizationStage>.Instance).RunOnce(10);

        Assert.Equal(1, replayed);
        Assert.Empty(store.ListDeadLetters());
        Assert.Equal("unrelated", MeasurementGroupJson.Deserialize(Assert.Single(store.ReadOutbox(10)).Payload.Span).Measurements.Single().Type);
    }

    private static readonly DateTime Received = new(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);

    private NormalizationStage Stage(string mapping) =>
        new(store, new DeviceMappingSource(new Normalizer(Corpus.Mapping(mapping))), NullLogger<NormalizationStage>.Instance);

    private static InboxMessage Message(string client, byte[] payload) =>
        new(client, $"ward/icu/{client}", payload, Received, new Dictionary<string, string>());
}
