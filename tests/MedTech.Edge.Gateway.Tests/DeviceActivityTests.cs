using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>The per-device last-seen list behind the silent-device gauges and <c>medtech buffer devices</c>.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DeviceActivityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-devices-").FullName;
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenDevicesSilentForDifferentSpans_WhenCounted_ThenEachBracketCountsOnlyThoseSilentLongerAndOldOnesAreForgotten()
    {
        var activity = new DeviceActivity(time);
        activity.Seen([Reading("a", Now.AddDays(-8)), Reading("b", Now.AddHours(-2)), Reading("c", Now.AddMinutes(-3)), Reading("d", Now)]);

        Assert.Equal([3, 2, 2], DeviceActivity.SilentBrackets.Select(b => activity.SilentLongerThan(b.Over)));
        activity.ForgetOld();
        Assert.Equal(["b", "c", "d"], activity.Snapshot().Select(d => d.DeviceId));
        Assert.Equal(0, activity.SilentLongerThan(TimeSpan.FromDays(7)));
    }

    [Fact]
    public void GivenAnOlderReadingAfterANewerOne_WhenSeen_ThenTheLaterTimesAreKeptAndAClockAheadIsNotAnError()
    {
        var activity = new DeviceActivity(time);
        activity.Seen([Reading("a", Now)]);
        activity.Seen([Reading("a", Now.AddHours(-1)), new Measurement { Type = "hr", DeviceId = "b", OccurrenceTimeUtc = DateTime.MaxValue.AddDays(-1) }]);

        var a = activity.Snapshot().Single(d => d.DeviceId == "a");
        Assert.Equal((Now, Now.AddSeconds(-1)), (a.LastReceivedUtc, a.LastDeviceTimeUtc));
        Assert.Equal(Now, activity.Snapshot().Single(d => d.DeviceId == "b").LastReceivedUtc);
    }

    [Fact]
    public void GivenASavedList_WhenLoadedAfterARestart_ThenItIsKeptPrivateAndMerged()
    {
        var path = Path.Combine(folder, "gateway.db.devices.json");
        var before = new DeviceActivity(time);
        before.Seen([Reading("bed \0 1", Now.AddHours(-3)), Reading(new string('x', 100_000), Now)]);
        before.Save(path);

        var after = new DeviceActivity(time);
        after.Seen([Reading("bed \0 1", Now.AddMinutes(-1))]);
        after.Load(path);

        Assert.Equal("0600", Umask.Mode(path));
        Assert.Equal(2, after.Count);
        Assert.Equal(Now.AddMinutes(-1), after.Snapshot().Single(d => d.DeviceId == "bed \0 1").LastReceivedUtc);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"deviceId\":\"a\"}")]
    [InlineData("[null]")]
    [InlineData("[{\"lastReceivedUtc\":\"2026-12-01T00:00:00Z\"}]")]
    public void GivenAFileOfTheWrongShape_WhenRead_ThenItIsRefusedAsInvalidData(string content)
    {
        var path = Path.Combine(folder, "devices.json");
        File.WriteAllText(path, content);
        Assert.Throws<InvalidDataException>(() => DeviceActivity.Read(path));
    }

    [Fact]
    public void GivenMoreDevicesThanTheCap_WhenSeen_ThenTheListStopsGrowingButKnownDevicesStillUpdate()
    {
        var activity = new DeviceActivity(time);
        activity.Seen(Enumerable.Range(0, DeviceActivity.MaxDevices + 10).Select(i => Reading($"d{i}", Now.AddHours(-1))).ToList());
        activity.Seen([Reading("d0", Now)]);

        Assert.Equal(DeviceActivity.MaxDevices, activity.Count);
        Assert.Equal(DeviceActivity.MaxDevices - 1, activity.SilentLongerThan(TimeSpan.FromMinutes(5)));
    }

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    private static Measurement Reading(string device, DateTime received) =>
        new() { Type = "hr", DeviceId = device, OccurrenceTimeUtc = received.AddSeconds(-1), IngestionTimeUtc = received };
}
