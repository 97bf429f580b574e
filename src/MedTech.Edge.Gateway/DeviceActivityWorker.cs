using MedTech.Edge.Buffer;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Keeps <see cref="DeviceActivity"/>'s file beside the buffer: read at start (a device silent since before a restart
/// still counts as silent), written every <see cref="SaveInterval"/> when something changed, and at stop.
/// </summary>
public sealed partial class DeviceActivityWorker(GatewayMetrics metrics, IOptions<BufferOptions> buffer, ILogger<DeviceActivityWorker> logger) : BackgroundService
{
    /// <summary>How often the list is written: it is for operators looking for a silent device, minutes matter, seconds do not.</summary>
    public static readonly TimeSpan SaveInterval = TimeSpan.FromSeconds(30);

    private readonly string path = DeviceActivity.PathFor(buffer.Value.Path);
    private long saved = -1;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            metrics.Devices.Load(path);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            // Only a view for operators: the list starts again rather than stopping the gateway.
            Log.LoadFailed(logger, ex.GetType().Name);
        }

        return base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Save();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SaveInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            metrics.Devices.ForgetOld();
            Save();
        }
    }

    private void Save()
    {
        var version = metrics.Devices.Version;
        if (version == saved)
        {
            return;
        }

        try
        {
            metrics.Devices.Save(path);
            saved = version;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A full disk: the buffer reports that; the list is written again at the next tick.
            Log.SaveFailed(logger, ex.GetType().Name);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "The device last-seen list could not be read ({Error}); it starts empty.")]
        public static partial void LoadFailed(ILogger logger, string error);

        [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "The device last-seen list could not be written ({Error}); retried in 30 s.")]
        public static partial void SaveFailed(ILogger logger, string error);
    }
}
