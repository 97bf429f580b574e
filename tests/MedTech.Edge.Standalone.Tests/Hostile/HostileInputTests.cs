using System.Text;
using MedTech.Edge.Mapping.Normalization;
using MQTTnet;
using MQTTnet.Formatter;

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// One hostile device against the whole one-process pipeline (as <c>medtech run</c>): whatever it sends is
/// refused before the PUBACK or ends as a dead letter with its reason, the pipeline stays up, and a good reading
/// from another device sent right after is charted.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private const string Attacker = "attacker-1";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static string Now(int minutesAgo = 60) => DateTime.UtcNow.AddMinutes(-minutesAgo).ToString("yyyy-MM-ddTHH:mm:ssZ");

    private async Task<OneProcessPipeline> PublishAsync(byte[] payload, params (string Name, string Value)[] properties)
    {
        var pipeline = await OneProcessPipeline.StartAsync(folder);
        using var client = await pipeline.ConnectAsync(Attacker);
        var ack = await client.PublishAsync(OneProcessPipeline.Message($"devices/{Attacker}/vitals", payload, properties));
        Assert.True(ack.IsSuccess, ack.ReasonCode.ToString());
        return pipeline;
    }

    private async Task AssertDeadLetteredAsync(string code, byte[] payload, params (string Name, string Value)[] properties)
    {
        await using var pipeline = await PublishAsync(payload, properties);
        var deadLetter = await pipeline.DeadLetterOfAsync(Attacker);
        Assert.Equal(code, deadLetter.Code);
        Assert.Equal(payload, deadLetter.Message.Payload.ToArray());
        await pipeline.AssertGoodReadingIsChartedAsync();
        await pipeline.DrainedAsync();
    }

    [Fact]
    public async Task GivenAUserPropertyNameWithNul_OnAPayloadThatIsNotJson_ThenTheDeadLetterKeepsItExactly()
    {
        var payload = Encoding.UTF8.GetBytes("not json\0");
        await using var pipeline = await PublishAsync(payload, ("a\0b", "v\0"), ("Foo", "1"), ("foo", "2"));

        var deadLetter = await pipeline.DeadLetterOfAsync(Attacker);

        Assert.Equal(ErrorCodes.InvalidDataFormat, deadLetter.Code);
        Assert.Equal("v\0", deadLetter.Message.Properties["a\0b"]);
        Assert.Equal("1", deadLetter.Message.Properties["Foo"]);
        Assert.Equal("2", deadLetter.Message.Properties["foo"]);
        await pipeline.AssertGoodReadingIsChartedAsync();
    }

    [Theory]
    [InlineData("deviceId")]
    [InlineData("patientId")]
    public Task GivenAnIdOfHundredsOfKilobytes_ThenItIsADeadLetter(string field)
    {
        var huge = new string('x', 200_000);
        var payload = OneProcessPipeline.Reading(field == "deviceId" ? huge : Attacker, field == "patientId" ? huge : "patient-a", Now());
        return AssertDeadLetteredAsync(ErrorCodes.IncompatibleData, payload);
    }

    [Theory]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("0001-01-01T00:00:00+14:00")]
    [InlineData("9999-12-31T23:59:59.9999999Z")]
    [InlineData("9999-12-31T23:59:59-14:00")]
    [InlineData("2200-01-01T00:00:00Z")]
    public Task GivenATimestampAtTheEndsOfTime_ThenItIsAnIncompatibleDataDeadLetter(string timestamp) =>
        AssertDeadLetteredAsync(ErrorCodes.IncompatibleData, OneProcessPipeline.Reading(Attacker, "patient-a", timestamp));

    [Fact]
    public Task GivenAValueThatMakesTheMappingsRegexBacktrack_ThenNormalizationStopsAtItsTimeLimit() =>
        AssertDeadLetteredAsync(ErrorCodes.TemplateExpression, Encoding.UTF8.GetBytes(
            $$"""{"deviceId":"{{Attacker}}","patientId":"patient-a","timestamp":"{{Now()}}","level":1,"tag":"{{new string('a', 64)}}!"}"""));

    [Fact]
    public Task GivenJsonNestedAHundredThousandDeep_ThenItIsAnInvalidDataFormatDeadLetter() =>
        AssertDeadLetteredAsync(ErrorCodes.InvalidDataFormat, Encoding.UTF8.GetBytes(new string('[', 100_000) + new string(']', 100_000)));

    [Fact]
    public async Task GivenAnEcgSessionSpanningYears_ThenItsGroupIsAnObservationTooLargeDeadLetter()
    {
        await using var pipeline = await OneProcessPipeline.StartAsync(folder);
        using (var client = await pipeline.ConnectAsync(Attacker))
        {
            foreach (var time in new[] { DateTime.UtcNow.AddYears(-5), DateTime.UtcNow.AddMinutes(-1) })
            {
                var payload = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{Attacker}}","patientId":"patient-a","timestamp":"{{time:yyyy-MM-ddTHH:mm:ssZ}}","session":"s1","ecg":0.5}""");
                Assert.True((await client.PublishAsync(OneProcessPipeline.Message($"devices/{Attacker}/ecg", payload))).IsSuccess);
            }
        }

        var deadLetter = await pipeline.GroupDeadLetterOfAsync(Attacker);

        Assert.Equal("ObservationTooLarge", deadLetter.Code);
        await pipeline.AssertGoodReadingIsChartedAsync();
        await pipeline.DrainedAsync();
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("123456789012345678901234567890123")]
    [InlineData("-1e-400")]
    [InlineData("\"NaN\"")]
    [InlineData("{\"a\":[1,{\"b\":null}]}")]
    [InlineData("null")]
    public async Task GivenAHeartRateAtTheEndsOfNumbersOrOfTheWrongShape_ThenThePipelineMovesOn(string heartRate)
    {
        await using var pipeline = await PublishAsync(OneProcessPipeline.Reading(Attacker, "patient-a", Now(), heartRate));

        await pipeline.AssertGoodReadingIsChartedAsync();
        await pipeline.DrainedAsync();
        // Either it was charted as a number a FHIR decimal can hold, or it is a dead letter; never a stalled pipeline.
        var charted = pipeline.Observations().Count(o => !o.Contains(OneProcessPipeline.GoodDevice, StringComparison.Ordinal));
        var deadLetters = pipeline.Store.ListDeadLetters().Count + pipeline.Store.ListGroupDeadLetters().Count;
        Assert.True(charted > 0 || deadLetters > 0, $"{charted} charted, {deadLetters} dead letters");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"a string\"")]
    [InlineData("42")]
    [InlineData("{}")]
    [InlineData("   ")]
    [InlineData("")]
    [InlineData("\uFEFF{\"deviceId\":1}")]
    [InlineData("{\"deviceId\":\"a\",\"deviceId\":\"b\",\"heartRate\":1}")]
    public async Task GivenValidOrEmptyPayloadsOfTheWrongShape_ThenThePipelineMovesOn(string body)
    {
        await using var pipeline = await PublishAsync(Encoding.UTF8.GetBytes(body));

        await pipeline.AssertGoodReadingIsChartedAsync();
        await pipeline.DrainedAsync();
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task GivenAnOversizedPublish_ThenItIsNotAcknowledgedNotStoredAndOthersGoOn(MqttProtocolVersion version)
    {
        await using var pipeline = await OneProcessPipeline.StartAsync(folder);
        using var client = await pipeline.ConnectAsync(Attacker, version);
        var payload = OneProcessPipeline.Reading(Attacker, "patient-a", Now()).Concat(new byte[OneProcessPipeline.MaxMessageBytes]).ToArray();

        bool acknowledged;
        try
        {
            acknowledged = (await client.PublishAsync(OneProcessPipeline.Message($"devices/{Attacker}/vitals", payload))).IsSuccess;
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            acknowledged = false;
        }

        Assert.False(acknowledged);
        await pipeline.AssertGoodReadingIsChartedAsync();
        await pipeline.DrainedAsync();
        Assert.DoesNotContain(pipeline.Store.ListDeadLetters(), d => d.Message.ClientId == Attacker);
        Assert.DoesNotContain(pipeline.Store.ListGroupDeadLetters(), d => d.Key == Attacker);
    }
}
