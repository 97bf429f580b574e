using System.Collections.Concurrent;
using System.Text.Json;
using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway;

/// <summary>When a device was last heard from: its last measurement's device time and the time the gateway received it.</summary>
public sealed record DeviceSeen(string DeviceId, DateTime LastDeviceTimeUtc, DateTime LastReceivedUtc);

/// <summary>
/// Per device, when it last sent a measurement that normalized (a device that sends only what fails its mapping counts as
/// silent: no reading of it reaches the chart). Device ids are HIPAA identifiers, so they never become metric labels:
/// <c>/metrics</c> gets only how many devices are silent longer than each of <see cref="SilentBrackets"/>, and the list
/// itself is kept in a private file beside the buffer (<see cref="PathFor"/>, mode 0600 like the buffer) that
/// <c>medtech buffer devices</c> prints on the gateway machine. A file of its own rather than a buffer collection: the
/// command reads it while the gateway runs (the buffer file belongs to one process).
/// </summary>
public sealed class DeviceActivity(TimeProvider? timeProvider = null)
{
    /// <summary>Devices tracked at most; a device beyond is not tracked (ids come from devices; memory must stay bounded).</summary>
    public const int MaxDevices = 100_000;

    /// <summary>The silence brackets published as <c>devices.silent{over=...}</c>: a missed reading, a lost monitor, an outage.</summary>
    public static readonly IReadOnlyList<(string Label, TimeSpan Over)> SilentBrackets =
        [("1m", TimeSpan.FromMinutes(1)), ("5m", TimeSpan.FromMinutes(5)), ("1h", TimeSpan.FromHours(1))];

    /// <summary>A device silent this long is forgotten (moved to another bed, retired), so it does not count as silent for ever.</summary>
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(7);

    /// <summary>
    /// Changes smaller than this are not recorded: silence is counted in minutes, and skipping them keeps the normalization
    /// round (which reports every measurement) from replacing an entry per measurement.
    /// </summary>
    private static readonly TimeSpan Resolution = TimeSpan.FromSeconds(1);

    /// <summary>A file larger than this is not read (it is ours, but a damaged or replaced one must not take the memory).</summary>
    private const long MaxFileBytes = 64L * 1024 * 1024;

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, DeviceSeen> devices = new(StringComparer.Ordinal);
    private long version;

    /// <summary>Changes since start; the saver writes the file only when this moved.</summary>
    public long Version => Interlocked.Read(ref version);

    public int Count => devices.Count;

    /// <summary>The file beside the buffer at <paramref name="bufferPath"/>.</summary>
    public static string PathFor(string bufferPath) => bufferPath + ".devices.json";

    /// <summary>Records the measurements of a committed normalization round (received when <see cref="Measurement.IngestionTimeUtc"/> says, else now).</summary>
    public void Seen(IEnumerable<Measurement> measurements)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        var now = time.GetUtcNow().UtcDateTime;
        foreach (var m in measurements)
        {
            Seen(new DeviceSeen(m.DeviceId, m.OccurrenceTimeUtc, m.IngestionTimeUtc ?? now));
        }
    }

    /// <summary>The devices, longest silent first.</summary>
    public IReadOnlyList<DeviceSeen> Snapshot() => devices.Values.OrderBy(d => d.LastReceivedUtc).ThenBy(d => d.DeviceId, StringComparer.Ordinal).ToList();

    /// <summary>How many devices the gateway has not heard from for longer than <paramref name="over"/>.</summary>
    public long SilentLongerThan(TimeSpan over)
    {
        var before = time.GetUtcNow().UtcDateTime - over;
        return devices.Values.Count(d => d.LastReceivedUtc < before);
    }

    /// <summary>Forgets devices silent longer than <see cref="ForgetAfter"/>.</summary>
    public void ForgetOld()
    {
        var before = time.GetUtcNow().UtcDateTime - ForgetAfter;
        foreach (var device in devices.Values.Where(d => d.LastReceivedUtc < before))
        {
            if (devices.TryRemove(new KeyValuePair<string, DeviceSeen>(device.DeviceId, device)))
            {
                Interlocked.Increment(ref version);
            }
        }
    }

    /// <summary>Writes the list to <paramref name="path"/> (0600), through a temporary file so a reader never sees half of it.</summary>
    public void Save(string path)
    {
        var temporary = path + ".tmp";
        PrivateFiles.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(Snapshot(), Json));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Adds what <paramref name="path"/> holds (kept: the later of each time); a missing file is nothing to add.</summary>
    /// <exception cref="InvalidDataException">The file is too large or not a device list.</exception>
    public void Load(string path)
    {
        foreach (var device in Read(path))
        {
            Seen(device);
        }
    }

    /// <summary>The list in <paramref name="path"/>; empty when there is no file yet.</summary>
    /// <exception cref="InvalidDataException">The file is too large or not a device list.</exception>
    public static IReadOnlyList<DeviceSeen> Read(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return [];
        }

        if (file.Length > MaxFileBytes)
        {
            throw new InvalidDataException($"The device list is {file.Length} bytes, more than {MaxFileBytes}.");
        }

        try
        {
            var list = JsonSerializer.Deserialize<List<DeviceSeen>>(File.ReadAllBytes(path), Json) ?? [];
            return list.Any(d => d is null || string.IsNullOrEmpty(d.DeviceId)) ? throw new InvalidDataException("The device list has an entry without a device id.") : list;
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException("The device list is not JSON of the expected shape.", ex);
        }
    }

    private void Seen(DeviceSeen seen)
    {
        if (devices.TryGetValue(seen.DeviceId, out var current)
            ? seen.LastReceivedUtc - current.LastReceivedUtc < Resolution && seen.LastDeviceTimeUtc - current.LastDeviceTimeUtc < Resolution
            : devices.Count >= MaxDevices)
        {
            return;
        }

        devices.AddOrUpdate(seen.DeviceId, seen, (_, known) => new DeviceSeen(known.DeviceId,
            seen.LastDeviceTimeUtc > known.LastDeviceTimeUtc ? seen.LastDeviceTimeUtc : known.LastDeviceTimeUtc,
            seen.LastReceivedUtc > known.LastReceivedUtc ? seen.LastReceivedUtc : known.LastReceivedUtc));
        Interlocked.Increment(ref version);
    }
}
