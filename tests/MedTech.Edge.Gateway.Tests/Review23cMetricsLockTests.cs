using System.Globalization;
using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// review23c: fab2b00 took the buffer's file lock off the health probe's path (a write that holds it - a stalled disk,
/// a full disk's engine close of up to 30 s, a space rebuild - made /health hang), but <c>/metrics</c> still reads the
/// buffer under that lock on the scrape's own thread: GatewayMetrics' buffer.depth, buffer.oldest_unsent_seconds and
/// messages.dropped call <see cref="IBufferUpkeep.Stats"/> in their callbacks, and the exporter collects every meter in
/// one pass. So while a write holds the lock the whole scrape hangs, not only the buffer's series: Prometheus's scrape
/// times out, <c>up</c> goes to 0 (MedTechEdgeDown fires instead of the disk's alert) and every gateway series, the
/// ingest refusals and health.status included, has a gap exactly during the incident.
/// </summary>
public sealed class Review23cMetricsLockTests
{
    private readonly int port = Ports.Free();

    [Fact]
    public async Task GivenAWriteHoldingTheBufferLock_WhenMetricsAreScraped_ThenTheScrapeAnswersWhileTheLockIsHeld()
    {
        using var release = new ManualResetEventSlim(false);
        var store = new LockedStore(release);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Monitoring:Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Monitoring:BindAddress"] = "127.0.0.1",
        });
        builder.Services.AddMonitoring();
        builder.Services.AddSingleton<IBufferUpkeep>(store);
        builder.Services.AddModuleMetrics<GatewayMetrics>();
        using var host = builder.Build();
        await host.StartAsync();
        using var metrics = host.Services.GetRequiredService<GatewayMetrics>();

        // From now on a write holds the buffer's file lock. Only a safety net lets it go, after 60 s, so the test ends
        // when the scrape never answers on its own (Prometheus's default scrape time-out is 10 s).
        store.Locked = true;
        using var safety = new Timer(_ => release.Set(), null, TimeSpan.FromSeconds(60), Timeout.InfiniteTimeSpan);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        var answeredWhileLocked = !release.IsSet;
        release.Set();
        var scrape = await response.Content.ReadAsStringAsync();
        await host.StopAsync();

        Assert.True(store.Asked, "the scrape never read the buffer");
        Assert.True(answeredWhileLocked && response.IsSuccessStatusCode,
            $"/metrics answered {(int)response.StatusCode} only once the buffer's lock was let go: a scrape waits for any write that holds it");
        Assert.Contains("medtech_edge_gateway_messages_normalized_total", scrape, StringComparison.Ordinal);
    }

    /// <summary>A buffer whose file lock a stuck write holds once <see cref="Locked"/>: Stats() waits for it, as BufferUpkeep.Stats does.</summary>
    private sealed class LockedStore(ManualResetEventSlim release) : IBufferUpkeep
    {
        public volatile bool Locked;

        public bool Asked { get; private set; }

        public BufferStats Stats()
        {
            if (Locked)
            {
                Asked = true;
                release.Wait();
            }

            return new BufferStats(0, 0, 0, null, 0, new Dictionary<string, long>(), 0);
        }

        public int ExpireOld() => 0;

        public long PurgeDelivered() => 0;

        public bool ReclaimSpace(long minimumFileBytes = 64L << 20) => false;
    }
}
