using MedTech.Edge.Files;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Hosting;

/// <summary>Runs a module's host to its end and turns how it ended into the process exit code.</summary>
public static class ModuleRunner
{
    /// <summary>
    /// Exit codes: 0 stopped cleanly, 1 a worker failed (IoT Edge restarts the module), 2 invalid configuration or
    /// mapping, a port in use, or an unusable file such as a damaged buffer (a restart cannot help: the message names the file and the way out).
    /// </summary>
    public static async Task<int> RunModuleAsync(this IHost host, TextWriter error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            // Not RunAsync: it disposes the host, and the workers' outcome is read below.
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            await host.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ValidationFailures(ex) is { } failures)
        {
            // Invalid configuration stops start-up with every field at fault named.
            await error.WriteLineAsync($"Invalid configuration: {string.Join(" ", failures)}").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException
            or IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException or System.Net.Sockets.SocketException })
        {
            // Typically a port another program holds (a system Mosquitto on 1883, a second instance); Kestrel (the
            // monitoring endpoint) wraps its bind failure in an IOException, and so does the probe socket's check.
            await error.WriteLineAsync($"Cannot listen: {ex.Message}. Is another program using the port? Choose another (Mqtt__Port, Monitoring__Port, Monitoring__ProbeSocket; medtech run: --mqtt-port, --metrics-port).").ConfigureAwait(false);
            return 2;
        }
        catch (Exception ex) when (Damaged(ex) is { } damaged)
        {
            // Once, with the way out, instead of a crash loop of the same unhandled exception on every restart.
            await error.WriteLineAsync(damaged.Message).ConfigureAwait(false);
            return 2;
        }
        catch (InvalidMappingException ex)
        {
            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 2;
        }

        // A worker that died stopped the host; exit non-zero so the logs and the restart policy show it.
        return host.Services.GetServices<IHostedService>().OfType<BackgroundService>().Any(s => s.ExecuteTask?.IsFaulted == true) ? 1 : 0;
    }

    /// <summary>The unusable-file error (a damaged buffer), also when the host or the container wrapped it; else null.</summary>
    private static FileUnusableException? Damaged(Exception? ex) => ex switch
    {
        null => null,
        FileUnusableException damaged => damaged,
        AggregateException many => many.InnerExceptions.Select(Damaged).FirstOrDefault(d => d is not null),
        _ => Damaged(ex.InnerException),
    };

    /// <summary>The failures of one options class, or of several at once (an AggregateException of them); else null.</summary>
    private static IEnumerable<string>? ValidationFailures(Exception ex) => ex switch
    {
        OptionsValidationException one => one.Failures,
        AggregateException many when many.InnerExceptions.All(e => e is OptionsValidationException) =>
            many.InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures),
        _ => null,
    };
}
