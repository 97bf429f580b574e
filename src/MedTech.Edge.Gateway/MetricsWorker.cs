using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Prometheus;

namespace MedTech.Edge.Gateway;

/// <summary>
/// Serves Prometheus text on <c>:{Port}/metrics</c> (9600, where IoT Edge's metrics-collector scrapes modules), made
/// from the module's System.Diagnostics.Metrics instruments. Labels are reasons and names, never device or patient ids.
/// </summary>
public sealed class MetricsWorker(IOptions<GatewayOptions> options) : IHostedService, IDisposable
{
    private MetricServer? server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.MetricsPort != 0)
        {
            server = new MetricServer(hostname: options.Value.MetricsBindAddress, port: options.Value.MetricsPort);
            server.Start();
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (server is not null)
        {
            await server.StopAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => server?.Dispose();
}
