using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace MedTech.Edge.Hosting;

/// <summary>
/// Serves <c>/metrics</c> (Prometheus text from the module's System.Diagnostics.Metrics instruments, by OpenTelemetry's
/// exporter; labels are reasons and names, never device or patient ids) and <c>/health</c> (<see cref="HealthResponse"/>,
/// from the module's health checks) on the network port and, for the machine's own health probe, on a Unix socket
/// (<see cref="MonitoringOptions.ProbeSocket"/>). Kestrel, not a hand loop: each request is its own task, so a client that
/// stalls holds one connection (closed after the header time-out) and blocks no one, and an exception answers 500 for its
/// request only. Each endpoint has its own connection places (<see cref="ConnectionPlaces"/>): clients that fill the network
/// port's places do not reach the socket's, so the container is not marked unhealthy by whoever can reach the port.
/// </summary>
public sealed partial class MonitoringServer(
    IOptions<MonitoringOptions> options, HealthCheckService healthChecks, MeterProvider meters, ILoggerFactory loggerFactory, ILogger<MonitoringServer> logger)
    : IHostedService, IAsyncDisposable, IDisposable
{
    /// <summary>Meter of the endpoint's own counter, <c>connections.refused</c> (by endpoint and by cap).</summary>
    public const string MeterName = MonitoringExtensions.MeterPrefix + "Monitoring";

    /// <summary>Places of the probe socket: the image's HEALTHCHECK asks one at a time (a hung one holds one until its time-out).</summary>
    internal const int ProbeSocketPlaces = 4;

    // One per process, not per server: every host's exporter in a process (tests start many) must read the same
    // instrument, and a server's refusals must not hide behind another instance of the same meter name.
    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Refused = Meter.CreateCounter<long>("connections.refused", description: "Monitoring connections closed by an endpoint's caps, by endpoint and cap.");

    private WebApplication? app;

    /// <summary>The addresses the endpoint listens on (after start), e.g. <c>http://127.0.0.1:9600</c>.</summary>
    public IReadOnlyCollection<string> Addresses =>
        app?.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var socket = string.IsNullOrEmpty(settings.ProbeSocket) ? null : settings.ProbeSocket;
        if (settings.Port == 0 && socket is null)
        {
            return;
        }

        // Each endpoint counts its own connections (Kestrel's MaxConcurrentConnections would be one count for both).
        var network = new ConnectionPlaces("network", settings.MaxConnections, Math.Min(settings.MaxConnectionsPerAddress, settings.MaxConnections), Refused, TimeProvider.System, logger);
        var local = new ConnectionPlaces("probe_socket", ProbeSocketPlaces, ProbeSocketPlaces, Refused, TimeProvider.System, logger);
        if (socket is not null)
        {
            ProbeSocketFile.Prepare(socket);
        }

        // An empty builder: no configuration files or environment of its own (the module's configuration already chose
        // the address), only Kestrel, routing and the module's own logging.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddRoutingCore().AddOptions();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            if (settings.Port != 0 && settings.ListenAddress is { } address)
            {
                kestrel.Listen(address, settings.Port, listen => Serve(listen, network));
            }
            else if (settings.Port != 0)
            {
                kestrel.ListenAnyIP(settings.Port, listen => Serve(listen, network));
            }

            if (socket is not null)
            {
                kestrel.ListenUnixSocket(socket, listen => Serve(listen, local));
            }

            kestrel.AddServerHeader = false;
            kestrel.Limits.RequestHeadersTimeout = settings.RequestHeadersTimeout;
            // Short: a scraper asks every 15 s or more and reconnects cheaply; an idle connection must not keep a place.
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(5);
            // Only GETs are served: a request body is refused rather than read.
            kestrel.Limits.MaxRequestBodySize = 0;
            kestrel.Limits.MaxRequestHeadersTotalSize = 8 * 1024;
            kestrel.Limits.MaxRequestLineSize = 2 * 1024;
        });

        var web = builder.Build();
        // OpenTelemetry's Prometheus exporter: counters as counters named _total, cumulative (a series never expires).
        web.MapPrometheusScrapingEndpoint("/metrics", meters, configureBranchedPipeline: null, optionsName: null);
        // /health and /health/ready: every check; /health/live: only what a restart cures (HealthTags), for an
        // orchestrator that restarts on a failed liveness probe.
        web.MapGet("/health", context => ServeHealthAsync(context, null));
        web.MapGet("/health/ready", context => ServeHealthAsync(context, null));
        web.MapGet("/health/live", context => ServeHealthAsync(context, check => check.Tags.Contains(HealthTags.Live)));
        await web.StartAsync(cancellationToken).ConfigureAwait(false);
        app = web;
        if (socket is not null)
        {
            ProbeSocketFile.Restrict(socket);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (app is not null)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            app = null;
        }
    }

    // Hosts are disposed synchronously too (using var host = ...); the web host's disposal only ends its listeners.
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static void Serve(ListenOptions listen, ConnectionPlaces places)
    {
        // HTTP/1.1 only: what scrapers and the probe speak, and no HTTP/2 streams multiplied under one counted connection.
        listen.Protocols = HttpProtocols.Http1;
        listen.Use(places.Middleware);
    }

    private async Task ServeHealthAsync(HttpContext context, Func<HealthCheckRegistration, bool>? predicate)
    {
        try
        {
            var report = await healthChecks.CheckHealthAsync(predicate, context.RequestAborted).ConfigureAwait(false);
            await HealthResponse.WriteAsync(context, report).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && !context.Response.HasStarted)
        {
            // The health checks' own failures are in the report; this is the machinery failing. The request gets a 503
            // (unknown is not healthy) and the log the exception's type only.
            Log.HealthFailed(logger, ex.GetType().Name);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9001, Level = LogLevel.Warning, Message = "The health endpoint failed ({Error}); answered 503.")]
        public static partial void HealthFailed(ILogger logger, string error);
    }
}
