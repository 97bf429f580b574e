using System.Diagnostics;

namespace MedTech.Edge.Testing;

/// <summary>
/// A real Mosquitto broker (Debian's package, installed by <c>.ci/run</c>) on a free loopback port, with the persistence
/// settings of the shipped <c>edge-deployment/mosquitto/mosquitto.conf</c> and anonymous access for the test.
/// </summary>
public sealed class Mosquitto : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-mosquitto-").FullName;
    private readonly Process process;

    public Mosquitto()
    {
        var binary = new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Mosquitto is not installed: run .ci/run, or apt-get install mosquitto.");
        Port = Ports.Free();
        var shipped = File.ReadAllLines(Path.Combine(Repository.Root, "edge-deployment", "mosquitto", "mosquitto.conf"))
            .Where(line => line.StartsWith("persistence ", StringComparison.Ordinal) || line.StartsWith("autosave_interval", StringComparison.Ordinal)
                || line.StartsWith("max_", StringComparison.Ordinal));
        var config = Path.Combine(folder, "mosquitto.conf");
        File.WriteAllLines(config, shipped.Concat([
            $"persistence_location {folder}/",
            "user root",
            $"listener {Port} 127.0.0.1",
            "allow_anonymous true",
        ]));
        process = Process.Start(new ProcessStartInfo(binary, $"-c {config}") { RedirectStandardError = true, RedirectStandardOutput = true })!;
        for (var deadline = DateTime.UtcNow.AddSeconds(10); !Ports.Listening(Port); Thread.Sleep(50))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("Mosquitto did not start: " + process.StandardError.ReadToEnd());
            }
        }
    }

    public int Port { get; }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }

        process.Dispose();
        Directory.Delete(folder, recursive: true);
    }

}
