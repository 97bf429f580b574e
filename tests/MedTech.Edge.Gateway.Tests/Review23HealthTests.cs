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

    /// <summary>
    /// BufferHealthCheck says "at MaxMessages or MaxBytes new messages are refused ... (unhealthy: data waits at the
    /// devices or is lost)", but it is unhealthy only at share &gt;= 1. A buffer refuses a commit that does not fit the
    /// room LEFT (Inbox.Append: unsent + new &gt; Max), so by bytes it stops short of 100 %: here every 1 MiB message
    /// from the monitors is refused (BufferFullException, devices hold their data) while /health says Degraded
    /// "98 % full (bytes)", "working as designed". The same under EvictOldest (whole outbox batches go, usage drops
    /// below the limit) and for a commit batch of several messages by count. Real LiteDB file. Fix: unhealthy while
    /// the last commit was refused or evicted (the ingest source knows; EmbeddedBroker leaves BufferFullException out
    /// of its report), or when the room left is below the largest message (Mqtt:MaxMessageBytes).
    /// </summary>
    [Fact]
    public async Task Review23_BufferRefusingEveryMessageByBytes_IsUnhealthyNotDegraded()
    {
        var folder = Directory.CreateTempSubdirectory("medtech-review23-full-").FullName;
        try
        {
            var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxBytes = BufferOptions.MinimumMaxBytes, ForceToDisk = false };
            using var store = new GatewayStore(options);
            using var health = new ModuleHealth();
            var payload = new byte[1 << 20];
            var refused = 0;
            for (var i = 0; i < 100 && refused == 0; i++)
            {
                try
                {
                    store.Append([new InboxMessage("monitor-1", "devices/monitor-1/vitals", payload, DateTime.UtcNow, new Dictionary<string, string>())]);
                }
                catch (BufferFullException)
                {
                    refused++;
                }
            }

            Assert.Equal(1, refused);
            // And it keeps refusing: the next message of the same size does not fit either.
            Assert.Throws<BufferFullException>(() => store.Append([new InboxMessage("monitor-2", "devices/monitor-2/vitals", payload, DateTime.UtcNow, new Dictionary<string, string>())]));

            var result = await new BufferHealthCheck(store, options, health).CheckHealthAsync(new HealthCheckContext());

            Assert.True(result.Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, $"a buffer that refuses every message reports {result.Status}: {result.Description}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
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
