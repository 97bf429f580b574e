using MedTech.Edge.Buffer;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using HealthStatus = Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Second review of issue 23, failing on purpose. The fix for "98 % full while every 1 MiB message is refused" made the
/// buffer unhealthy from 90 % while <see cref="BufferStats.AtCapacity"/> is set, but Inbox.Append clears the flag on the
/// next commit that fits. A gateway serves many monitors: one sending small readings keeps committing into the last
/// 2 %, and each such commit clears the flag, while the monitor whose 1 MiB messages do not fit is refused on every
/// retry (its data waits at the device and is lost once the device's own memory is full). /health and the health.status
/// gauge (sampled every 10 s) then alternate Unhealthy/Degraded with the mix of traffic, so an alert with a `for:` keeps
/// resetting. Real LiteDB file. Fix: clear AtCapacity only once the room left is at least the refused commit's size
/// (or the buffer is below 90 % again), not on any commit that fits.
/// </summary>
public sealed class Review23bBufferCapacityTests
{
    [Fact]
    public async Task Review23b_BufferStillRefusingLargeMessages_StaysUnhealthyAfterASmallMessageFits()
    {
        var folder = Directory.CreateTempSubdirectory("medtech-review23b-full-").FullName;
        try
        {
            var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), MaxBytes = BufferOptions.MinimumMaxBytes, ForceToDisk = false };
            using var store = new GatewayStore(options);
            using var health = new ModuleHealth();
            var large = new byte[1 << 20];
            var small = new byte[200];
            InboxMessage Message(string device, byte[] payload) =>
                new(device, $"devices/{device}/vitals", payload, DateTime.UtcNow, new Dictionary<string, string>());

            var refused = false;
            for (var i = 0; i < 100 && !refused; i++)
            {
                try
                {
                    store.Append([Message("monitor-1", large)]);
                }
                catch (BufferFullException)
                {
                    refused = true;
                }
            }

            Assert.True(refused, "the 1 MiB messages never filled the buffer");
            var check = new BufferHealthCheck(store, options, health);
            var whileRefusing = await check.CheckHealthAsync(new HealthCheckContext());
            Assert.Equal(HealthStatus.Unhealthy, whileRefusing.Status);

            // Another monitor's small reading still fits in the room left.
            store.Append([Message("monitor-2", small)]);
            var afterSmall = await check.CheckHealthAsync(new HealthCheckContext());

            // The large monitor is still refused: nothing about its situation changed.
            Assert.Throws<BufferFullException>(() => store.Append([Message("monitor-1", large)]));
            Assert.True(afterSmall.Status == HealthStatus.Unhealthy,
                $"while every 1 MiB message is still refused, one small commit that fit turned the buffer check to {afterSmall.Status}: {afterSmall.Description}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
