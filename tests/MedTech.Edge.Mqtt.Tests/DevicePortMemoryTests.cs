using System.Diagnostics;
using System.Net.Sockets;
using MedTech.Edge.Testing;
using Xunit.Abstractions;

namespace MedTech.Edge.Mqtt.Tests;

/// <summary>Memory is measured for the whole test process, so nothing else in it may run meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurement
{
    public const string Name = "memory measurement";
}

/// <summary>
/// The attack from issue 19: connections announcing 256 MB packets, before and after logging in. MQTTnet alone allocates
/// each announced body as soon as it has read the header; behind the device port nothing of it is allocated.
/// </summary>
[Collection(MemoryMeasurement.Name)]
public sealed class DevicePortMemoryTests(ITestOutputHelper output)
{
    private const int Attackers = 20;

    // 256 MB is the largest remaining length MQTT can announce: 0xFF 0xFF 0xFF 0x7F.
    private static readonly byte[] Huge = [0xFF, 0xFF, 0xFF, 0x7F];

    [Fact]
    public async Task GivenTwentyConnectionsAnnouncing256MBPackets_WhenTheyTrickle_ThenMemoryStaysNearIdleAndAnotherDeviceKeepsPublishing()
    {
        var folder = Directory.CreateTempSubdirectory("medtech-port-").FullName;
        var devices = Enumerable.Range(0, Attackers).Select(i => ($"attacker-{i}", $"pw-{i}")).Append(("monitor-1", "pw-1"));
        var options = new MqttIngestOptions { Port = Ports.Free(), DeviceTopicPattern = "devices/{clientId}/", PasswordFile = MosquittoPasswd.Write(Path.Combine(folder, "mqtt-passwords"), devices) };
        await using var broker = await DevicePortHarness.StartAsync(options);
        using var device = await broker.ConnectAsync("monitor-1", "pw-1");

        // Warm-up: one round of everything measured below, so JIT and first-use allocations are not counted as growth.
        Assert.True((await device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", "warm-up"))).IsSuccess);
        await AttackAsync(options.Port, 0, 2);
        var before = Measure();

        // Attackers are half before login (a CONNECT header) and half after it (a PUBLISH header), each trickling on;
        // meanwhile the monitor keeps publishing and every publish must be acknowledged.
        using var attack = new CancellationTokenSource();
        var publishing = PublishUntilAsync(device, attack.Token);
        var sockets = await AttackAsync(options.Port, 0, Attackers);
        var duringAttack = Measure();
        await attack.CancelAsync();
        var acknowledged = await publishing;
        var after = Measure();

        output.WriteLine($"GC heap after a full collection: idle {before.Heap:N0} B, attacked {duringAttack.Heap:N0} B, after {after.Heap:N0} B");
        output.WriteLine($"working set: idle {before.WorkingSet:N0} B, attacked {duringAttack.WorkingSet:N0} B, after {after.WorkingSet:N0} B");
        output.WriteLine($"allocated during the attack (all of the process, freed or not): {duringAttack.Allocated - before.Allocated:N0} B");
        output.WriteLine($"monitor-1 publishes acknowledged during the attack: {acknowledged}");
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        // Bounds, with margin: one honoured header would be 256 MiB on the heap (and 20 of them 5 GiB), while the
        // attackers' legitimate state (20 CONNECTs, sockets, MQTTnet sessions) is well under 1 MiB. 8 MiB of heap and
        // 64 MiB of allocations leave room for the monitor's publishes, LiteDB pages and the runtime's own caches. The
        // working set moves with thread-pool threads and the page cache, so its bound is looser; it is printed above.
        Assert.InRange(duringAttack.Heap - before.Heap, long.MinValue, 8L << 20);
        Assert.InRange(duringAttack.Allocated - before.Allocated, 0, 64L << 20);
        Assert.InRange(duringAttack.WorkingSet - before.WorkingSet, long.MinValue, 64L << 20);
        Assert.True(acknowledged > 0, "monitor-1 published nothing during the attack");
        Assert.Equal(acknowledged + 1, broker.StoredPayloads().Count);
    }

    /// <summary>
    /// Opens attackers <paramref name="from"/> to <paramref name="to"/>, even ones announcing a 256 MB CONNECT, odd ones
    /// logging in and announcing a 256 MB PUBLISH, each trickling a few KB after its header; returns once the broker has
    /// closed every one of them. MQTTnet alone would not close them: it waits for the announced body, holding its array.
    /// </summary>
    private static async Task<List<Socket>> AttackAsync(int port, int from, int to)
    {
        var sockets = new List<Socket>();
        for (var i = from; i < to; i++)
        {
            var socket = await RawMqtt.OpenAsync(port);
            sockets.Add(socket);
            if (i % 2 == 0)
            {
                await RawMqtt.TrySendAsync(socket, [0x10, .. Huge]);
            }
            else
            {
                Assert.True(await RawMqtt.LogInAsync(socket, $"attacker-{i}", $"pw-{i}"));
                await RawMqtt.TrySendAsync(socket, [0x32, .. Huge, 0x00, 0x02, (byte)'d', (byte)'/', 0x00, 0x01]);
            }
        }

        foreach (var socket in sockets)
        {
            for (var chunk = 0; chunk < 4; chunk++)
            {
                await RawMqtt.TrySendAsync(socket, new byte[1024]);
            }
        }

        foreach (var socket in sockets)
        {
            await RawMqtt.AssertClosedSilentlyAsync(socket);
        }

        return sockets;
    }

    private static async Task<int> PublishUntilAsync(MQTTnet.IMqttClient device, CancellationToken stop)
    {
        var acknowledged = 0;
        while (!stop.IsCancellationRequested || acknowledged == 0)
        {
            var result = await device.PublishAsync(DevicePortHarness.Message("devices/monitor-1/v", $"reading {acknowledged}"), CancellationToken.None);
            Assert.True(result.IsSuccess, $"publish {acknowledged} refused: {result.ReasonCode}");
            acknowledged++;
        }

        return acknowledged;
    }

    private static (long Heap, long WorkingSet, long Allocated) Measure()
    {
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        return (heap, process.WorkingSet64, allocated);
    }
}
