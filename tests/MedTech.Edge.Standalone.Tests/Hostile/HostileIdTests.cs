using MQTTnet.Formatter;

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// Ids a JSON escape can carry but UTF-8 cannot (unpaired surrogates), NUL, and FHIR search syntax, through the
/// whole one-process pipeline: the pipeline stays up, the reading is charted or a dead letter, the good reading after it
/// is charted, and the accounting balances.
/// </summary>
public sealed class HostileIdTests : IDisposable
{
    private const string Attacker = "attacker-2";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-review-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData("\ud800", "patient-a")]
    [InlineData("monitor-x", "\udfff")]
    [InlineData("mon\0itor", "pat\0ient")]
    [InlineData("a,monitor-good", "p|q")]
    [InlineData("a\\,b", "$x")]
    public async Task GivenHostileIds_ThenThePipelineMovesOnAndTheAccountingBalances(string deviceId, string patientId)
    {
        await using var pipeline = await OneProcessPipeline.StartAsync(folder);
        using (var client = await pipeline.ConnectAsync(Attacker, MqttProtocolVersion.V500))
        {
            var payload = OneProcessPipeline.Reading(deviceId, patientId, DateTime.UtcNow.AddMinutes(-5).ToString("yyyy-MM-ddTHH:mm:ssZ"));
            Assert.True((await client.PublishAsync(OneProcessPipeline.Message($"devices/{Attacker}/vitals", payload))).IsSuccess);
        }

        await pipeline.AssertGoodReadingIsChartedAsync();
        await pipeline.DrainedAsync();
        Assert.True(pipeline.Running);
        var stats = pipeline.Store.Stats();
        Assert.Equal(0, stats.Unaccounted);
        var charted = pipeline.Observations().Count - 1;
        Assert.True(charted + stats.DeadLetters == 1, $"{charted} charted besides the good one, {stats.DeadLetters} dead letters");
    }
}
