using System.Diagnostics;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace MedTech.Edge.Standalone.Tests.Hostile;

/// <summary>
/// One device flooding the gateway at (and far beyond) its publish rate, through the whole one-process pipeline with
/// a quota of 10/s (burst 20): every reading of another device is acknowledged and charted while the flooder is being
/// refused, and the flooder is acknowledged no faster than its bucket allows. The steady device's latencies, alone and
/// under the flood, are printed rather than asserted: a time limit would test the machine's load, not the quota.
/// </summary>
public sealed class DeviceFloodTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Flood = TimeSpan.FromSeconds(10);
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-flood-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public async Task GivenADeviceFloodingAtItsRateLimit_WhenAnotherDevicePublishesOnceASecond_ThenEachOfItsReadingsIsAcknowledgedAndChartedWhileTheFlooderIsRefused()
    {
        var settings = DeviceIdentityPipelineTests.Secured(folder, ("flooder", "pw-f"), ("steady", "pw-s"));

        // Half the default rate: a device's publishes are handled one after another, each waiting for its commit's
        // flush to disk, and on a busy two-core test machine one device reaches only about 20-25/s; at 10/s it floods
        // past its limit and is refused, as a faster device would be at 20/s.
        settings["Mqtt:DeviceQuota:RatePerSecond"] = "10";
        settings["Mqtt:DeviceQuota:Burst"] = "20";
        await using var pipeline = await OneProcessPipeline.StartAsync(folder, settings);
        using var flooder = await pipeline.ConnectAsync("flooder", password: "pw-f");
        using var steady = await pipeline.ConnectAsync("steady", password: "pw-s");

        // Alone first: the steady device's own latency on this machine, the baseline for the flood (the first reading
        // also creates the Device and Patient, so it is left out).
        var alone = new List<(TimeSpan Ack, TimeSpan Charted)>();
        for (var second = 0; second <= 3; second++)
        {
            alone.Add(await TimedReadingAsync(pipeline, steady, second));
        }

        using var stop = new CancellationTokenSource();
        var acknowledged = 0;
        var refused = 0;
        var clock = Stopwatch.StartNew();
        var floods = Enumerable.Range(0, 4).Select(lane => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var second = 10_000 + (lane * 100_000) + i;
                var result = await flooder.PublishAsync(OneProcessPipeline.Message("devices/flooder/vitals",
                    OneProcessPipeline.Reading("flooder", "patient-f", DeviceIdentityPipelineTests.Time(second))));
                Interlocked.Increment(ref result.ReasonCode == MqttClientPublishReasonCode.Success ? ref acknowledged : ref refused);
            }
        })).ToList();

        var flooded = new List<(TimeSpan Ack, TimeSpan Charted)>();
        for (var second = 4; clock.Elapsed < Flood; second++)
        {
            var started = clock.Elapsed;
            flooded.Add(await TimedReadingAsync(pipeline, steady, second));
            await Task.Delay(TimeSpan.FromSeconds(1) - (clock.Elapsed - started) is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
        }

        await stop.CancelAsync();
        await Task.WhenAll(floods);
        var elapsed = clock.Elapsed;
        var baseline = alone.Skip(1).Max(r => r.Charted);
        output.WriteLine($"flooder: {acknowledged} acknowledged ({acknowledged / elapsed.TotalSeconds:F1}/s), {refused} refused with QuotaExceeded ({refused / elapsed.TotalSeconds:F0}/s) in {elapsed.TotalSeconds:F1} s");
        output.WriteLine($"steady: {flooded.Count} acknowledged ({flooded.Count / elapsed.TotalSeconds:F2}/s); PUBACK max {flooded.Max(r => r.Ack).TotalMilliseconds:F0} ms; " +
            $"charted max {flooded.Max(r => r.Charted).TotalMilliseconds:F0} ms under the flood, {baseline.TotalMilliseconds:F0} ms alone");

        // The bucket: at most the burst plus the rate over the time (and a few in flight at the end).
        Assert.InRange(acknowledged, 20, 20 + (10 * elapsed.TotalSeconds) + 10);
        Assert.True(refused > 0, "the flooder did not get past its rate");

        // The steady device's own quota is untouched by the flood: each of its readings was acknowledged as a success
        // (TimedReadingAsync asserts it) and charted, one after another, for the whole flood.
        Assert.True(flooded.Count >= 2, $"only {flooded.Count} steady readings during the flood");
        Assert.All(Enumerable.Range(0, flooded.Count), i => Assert.True(DeviceIdentityPipelineTests.Charted(pipeline, "steady", 4 + i)));
        Assert.Equal(0, (await pipeline.DrainedAsync()).Unaccounted);
    }

    /// <summary>One reading of the steady device: the time to its PUBACK, and the time until it is an Observation.</summary>
    private static async Task<(TimeSpan Ack, TimeSpan Charted)> TimedReadingAsync(OneProcessPipeline pipeline, IMqttClient client, int second)
    {
        var clock = Stopwatch.StartNew();
        var result = await client.PublishAsync(OneProcessPipeline.Message("devices/steady/vitals",
            OneProcessPipeline.Reading("steady", "patient-s", DeviceIdentityPipelineTests.Time(second))));
        var ack = clock.Elapsed;
        Assert.True(result.IsSuccess, result.ReasonCode.ToString());
        while (!DeviceIdentityPipelineTests.Charted(pipeline, "steady", second))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the steady reading at {second} s was not charted; buffer: {pipeline.Store.Stats()}");
            await Task.Delay(20);
        }

        return (ack, clock.Elapsed);
    }
}
