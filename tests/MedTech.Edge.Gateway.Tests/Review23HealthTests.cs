using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Review of issue 23 (health), failing on purpose. AddMonitoring says "The time-out bounds a check that hangs (a buffer
/// lock held by a stuck write): /health answers in time anyway", and every component check is registered with a 5 s
/// time-out. But the library's time-out only cancels the token it passes; <see cref="BufferHealthCheck"/> is
/// synchronous and calls <see cref="IBufferUpkeep.Stats"/>, which takes the buffer file's lock and ignores the token.
/// While a write holds that lock (a stuck disk, a long LiteDB checkpoint) /health, /health/ready and the image's
/// HEALTHCHECK probe (which asks /health) wait for the lock, not 5 s; each waiting probe holds a thread and one of the
/// probe socket's four places. Fix: run the check's work off the caller (Task.Run(...).WaitAsync(token)) or read
/// counts the buffer keeps outside its file lock.
/// </summary>
public sealed class Review23HealthTests
{
    [Fact]
    public async Task Review23_BufferCheckWhileTheFileLockIsHeld_AnswersWithinItsTimeout()
    {
        using var release = new ManualResetEventSlim(false);
        var store = new LockedStore(release);
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddLogging();
        services.AddComponentHealthCheck(BufferHealthCheck.Name, sp => new BufferHealthCheck(store, new BufferOptions(), sp.GetRequiredService<ModuleHealth>()));
        await using var provider = services.BuildServiceProvider();
        var checks = provider.GetRequiredService<HealthCheckService>();

        // Only a safety net so that the test ends when the check never gives up: the lock is let go after 60 s.
        using var safety = new Timer(_ => release.Set(), null, TimeSpan.FromSeconds(60), Timeout.InfiniteTimeSpan);
        var report = await checks.CheckHealthAsync(r => r.Name == BufferHealthCheck.Name);
        var answeredWhileLocked = !release.IsSet;
        release.Set();

        Assert.True(store.Entered, "the check never asked the buffer");
        Assert.True(answeredWhileLocked, "the buffer check answered only once the buffer's lock was let go, not at its 5 s time-out");
        Assert.NotEqual(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, report.Entries[BufferHealthCheck.Name].Status);
    }

    /// <summary>A buffer whose file lock a stuck write holds: Stats() waits for it, as BufferUpkeep.Stats does.</summary>
    private sealed class LockedStore(ManualResetEventSlim release) : IBufferUpkeep
    {
        public bool Entered { get; private set; }

        public BufferStats Stats()
        {
            Entered = true;
            release.Wait();
            return new BufferStats(0, 0, 0, null, 0, new Dictionary<string, long>(), 0);
        }

        public int ExpireOld() => 0;

        public long PurgeDelivered() => 0;

        public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => false;
    }
}
