using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;

namespace MedTech.Edge.Hosting;

/// <summary>
/// Serves <c>/metrics</c> (Prometheus text made from the module's System.Diagnostics.Metrics instruments; labels are
/// reasons and names, never device or patient ids) and <c>/health</c> (JSON; 200 when healthy or degraded, 503 when a
/// worker stopped or a component is unhealthy) on one port.
/// </summary>
public sealed partial class MonitoringServer(IOptions<MonitoringOptions> options, ModuleHealth health, IServiceProvider services, ILogger<MonitoringServer> logger)
    : IHostedService, IDisposable
{
    // prometheus-net starts listening to the module's instruments at the registry's first collection, so counts made
    // before the first scrape would be missing: collect once, before the first server (and so any worker) starts.
    static MonitoringServer() => Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null).GetAwaiter().GetResult();

    private readonly HttpListener listener = new();
    private Task? serving;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Port == 0)
        {
            return Task.CompletedTask;
        }

        var (address, port) = (options.Value.BindAddress, options.Value.Port);
        listener.Prefixes.Add($"http://{address}:{port}/");
        // HttpListener matches the request's Host header, not the socket: on a loopback address, http://localhost:9600
        // would otherwise get 404 from a listener that http://127.0.0.1:9600 reaches.
        if (IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip))
        {
            listener.Prefixes.Add($"http://localhost:{port}/");
        }

        listener.Start();
        serving = Task.Run(ServeAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (serving is not null)
        {
            listener.Stop();
            await serving.ConfigureAwait(false);
        }
    }

    /// <summary>The module's health: every component's own word, and any worker that ended while the host runs.</summary>
    public (HealthStatus Status, IReadOnlyDictionary<string, (HealthStatus Status, string Reason)> Components) Check()
    {
        var components = new Dictionary<string, (HealthStatus Status, string Reason)>(health.Snapshot(), StringComparer.Ordinal);
        foreach (var worker in services.GetServices<IHostedService>().OfType<BackgroundService>())
        {
            if (worker.ExecuteTask is { IsCompleted: true } task)
            {
                components[worker.GetType().Name] = (HealthStatus.Unhealthy, task.IsFaulted ? $"stopped: {task.Exception!.InnerException!.GetType().Name}" : "stopped");
            }
        }

        var status = components.Count == 0 ? HealthStatus.Healthy : components.Values.Max(c => c.Status);
        return (status, components);
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                await RespondAsync(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException)
            {
                var error = ex.GetType().Name;
                Log.ResponseFailed(logger, error);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private async Task RespondAsync(HttpListenerContext context)
    {
        var response = context.Response;
        switch (context.Request.Url?.AbsolutePath)
        {
            case "/metrics":
                response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(response.OutputStream).ConfigureAwait(false);
                break;
            case "/health":
                var (status, components) = Check();
                response.StatusCode = status == HealthStatus.Unhealthy ? 503 : 200;
                response.ContentType = "application/json";
                await JsonSerializer.SerializeAsync(response.OutputStream, new
                {
                    status = status.ToString(),
                    components = components.ToDictionary(c => c.Key, c => new { status = c.Value.Status.ToString(), reason = c.Value.Reason }),
                }).ConfigureAwait(false);
                break;
            default:
                response.StatusCode = 404;
                break;
        }
    }

    public void Dispose() => ((IDisposable)listener).Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 9001, Level = LogLevel.Debug, Message = "A monitoring response failed ({Error}).")]
        public static partial void ResponseFailed(ILogger logger, string error);
    }
}
