using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;

namespace MedTech.Edge.Hosting;

/// <summary>
/// <c>MODULE.dll --health-probe</c>: asks the running module's <c>/health</c> and exits 0 when it answers 200 (healthy or
/// degraded), 1 otherwise. The images' HEALTHCHECK runs it, because the aspnet runtime image has no wget or curl; it
/// reads the module's own configuration, so it asks the module's probe socket (<see cref="MonitoringOptions.ProbeSocket"/>,
/// which network clients cannot fill) or, where none is configured, the port and address the module listens on.
/// </summary>
public static class HealthProbe
{
    public const string Argument = "--health-probe";

    public static bool IsRequested(IEnumerable<string> args) => args.Contains(Argument, StringComparer.Ordinal);

    /// <summary>The arguments without the probe switch, for the host's command-line configuration.</summary>
    public static string[] Without(IEnumerable<string> args) => args.Where(a => a != Argument).ToArray();

    public static async Task<int> RunAsync(IConfiguration configuration, TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(output);
        var options = new MonitoringOptions();
        configuration.GetSection(MonitoringOptions.SectionName).Bind(options);
        if (options.Validate() is { Count: > 0 } errors)
        {
            await output.WriteLineAsync($"unhealthy: {string.Join(" ", errors)}").ConfigureAwait(false);
            return 1;
        }

        if (!string.IsNullOrEmpty(options.ProbeSocket))
        {
            // The module's own socket, never the network port: its places are not the ones a network client can hold.
            // No fall-back to the port: a module whose socket does not answer is not healthy.
            var path = options.ProbeSocket;
            using var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, token) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            return await AskAsync(handler, new Uri("http://localhost/health"), $"unix socket {path}", output, cancellationToken).ConfigureAwait(false);
        }

        if (options.Port == 0)
        {
            // Monitoring switched off on purpose: nothing to ask, and a container must not be marked unhealthy for it.
            await output.WriteLineAsync("no health endpoint (Monitoring:Port is 0, no Monitoring:ProbeSocket)").ConfigureAwait(false);
            return 0;
        }

        var address = options.ListenAddress is { } bound && !bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any) ? bound : IPAddress.Loopback;
        var host = address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        using var tcp = new SocketsHttpHandler();
        return await AskAsync(tcp, new Uri($"http://{host}:{options.Port}/health"), $"http://{host}:{options.Port}/health", output, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> AskAsync(HttpMessageHandler handler, Uri health, string where, TextWriter output, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(handler, disposeHandler: false) { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await http.GetAsync(health, cancellationToken).ConfigureAwait(false);
            // The body names components and reasons only (no device or patient data): docker inspect shows it.
            await output.WriteLineAsync(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await output.WriteLineAsync($"unhealthy: no answer from {where} ({ex.GetType().Name})").ConfigureAwait(false);
            return 1;
        }
    }
}
