using System.Diagnostics;
using System.Globalization;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Cli.Tests;

/// <summary><c>medtech run</c> with device passwords: where its plain-text MQTT port listens.</summary>
public sealed class RunListenAddressTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-listen-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(false, "0100007F")]
    [InlineData(true, "00000000")]
    public async Task GivenDevicePasswordsAndNoTls_WhenRunStarts_ThenItListensOnLoopbackUnlessExplicitlyAllowedOnTheNetwork(bool allow, string address)
    {
        var passwords = Path.Combine(folder, "mqtt-passwords");
        MosquittoPasswd.Add(passwords, "monitor-1", "pw-1", create: true);
        var port = Ports.Free();
        var start = new ProcessStartInfo("dotnet", $"\"{Path.Combine(AppContext.BaseDirectory, "medtech.dll")}\" run --data \"{Path.Combine(folder, "data")}\" --mqtt-port {port} --metrics-port 0")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["Mqtt__PasswordFile"] = passwords },
        };
        if (allow)
        {
            start.Environment["Mqtt__AllowPlainTextOnNetwork"] = "true";
        }

        using var process = Process.Start(start)!;
        try
        {
            for (var deadline = DateTime.UtcNow.AddSeconds(60); !Ports.Listening(port); await Task.Delay(100))
            {
                Assert.False(DateTime.UtcNow > deadline || process.HasExited, "medtech run did not listen: " + (process.HasExited ? await process.StandardError.ReadToEndAsync() : ""));
            }

            // The kernel's own table of listening sockets: local address (hex, little-endian) and port of state 0A (LISTEN).
            var listening = File.ReadAllLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f[3] == "0A" && f[1].EndsWith(":" + port.ToString("X4", CultureInfo.InvariantCulture), StringComparison.Ordinal))
                .Select(f => f[1].Split(':')[0]).ToList();
            Assert.Equal([address], listening);

            // And the password from the file works.
            using var pub = Process.Start(new ProcessStartInfo("/usr/bin/mosquitto_pub", $"-h 127.0.0.1 -p {port} -q 1 -i monitor-1 -u monitor-1 -P pw-1 -t devices/monitor-1/v -m x")
            {
                RedirectStandardError = true,
            })!;
            await pub.WaitForExitAsync();
            Assert.True(pub.ExitCode == 0, await pub.StandardError.ReadToEndAsync());
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }
}
