using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// A really full filesystem under the buffer: a small tmpfs (mounting needs root, as CI and the developers' machines
/// run), filled by another file until the kernel answers ENOSPC. The gateway's ingest path (InboxWriter over the store)
/// must refuse while it is full, take messages again once the other file is gone, without a restart, and lose nothing
/// it acknowledged. Where mounting is impossible the test fails, unless MEDTECH_NO_TMPFS=1 says the machine cannot
/// (then it says so in the test output).
/// </summary>
public sealed class RealFullDiskTests(ITestOutputHelper output) : IDisposable
{
    private const string NoTmpfsVariable = "MEDTECH_NO_TMPFS";
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-tmpfs-").FullName;
    private bool mounted;

    // mount and umount: directly as root, else through sudo without a password prompt (as tests/install-test-parts.sh
    // uses sudo for apt).
    private string asRoot = "";

    public void Dispose()
    {
        if (mounted)
        {
            // Lazily, should a handle still be open: the mount goes once the last one closes.
            Run(asRoot, $"umount -l {folder}");
        }

        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenARealFilesystemThatFillsUp_WhenSpaceIsFreedAgain_ThenIngestRefusedWhileFullAndStoresAgainWithoutLosingAnythingAcknowledged()
    {
        if (!Mount())
        {
            return;
        }

        var options = new BufferOptions { Path = Path.Combine(folder, "gateway.db"), CommitWindow = TimeSpan.Zero };
        var filler = Path.Combine(folder, "filler");
        using (var store = new GatewayStore(options))
        {
            var writer = new InboxWriter(store, options) { ReopenInterval = TimeSpan.Zero };
            using var stop = new CancellationTokenSource();
            var commits = writer.RunAsync(stop.Token);
            await writer.AppendAsync(Message("before"), CancellationToken.None);

            var filled = Fill(filler);
            output.WriteLine($"The tmpfs took {filled} bytes of filler before ENOSPC.");

            // Every attempt while full fails (none is acknowledged), however many there are.
            for (var attempt = 0; attempt < 3; attempt++)
            {
                await Assert.ThrowsAnyAsync<IOException>(() => writer.AppendAsync(Message(new string('x', 50_000)), CancellationToken.None));
                Assert.NotNull(writer.Fault);
            }

            File.Delete(filler);
            await writer.AppendAsync(Message("after"), CancellationToken.None);
            Assert.Null(writer.Fault);
            await stop.CancelAsync();
            await commits;
        }

        // As a restarted gateway finds the file: exactly what was acknowledged.
        using var reopened = new GatewayStore(options);
        Assert.Equal(["before", "after"], reopened.ReadInbox(100).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Equal(0, reopened.Stats().Unaccounted);
    }

    /// <summary>Mounts a 4 MiB tmpfs on the folder; false (with a note in the output) only where the machine says it cannot.</summary>
    private bool Mount()
    {
        var (code, text) = Run("", $"mount -t tmpfs -o size=4m tmpfs {folder}");
        if (code != 0)
        {
            asRoot = "sudo -n ";
            (code, text) = Run(asRoot, $"mount -t tmpfs -o size=4m tmpfs {folder}");
        }

        if (code == 0)
        {
            mounted = true;
            return true;
        }

        if (Environment.GetEnvironmentVariable(NoTmpfsVariable) == "1")
        {
            output.WriteLine($"NOT RUN: {NoTmpfsVariable}=1 says this machine cannot mount a tmpfs (mount said: {text.Trim()}).");
            return false;
        }

        Assert.Fail($"Could not mount a tmpfs for the real full-disk test (needs root; mount exited {code}: {text.Trim()}). " +
            $"Run as root, or set {NoTmpfsVariable}=1 where the machine cannot.");
        return false;
    }

    /// <summary>Writes the file until the filesystem refuses; returns how many bytes it took.</summary>
    private static long Fill(string path)
    {
        var chunk = new byte[64 * 1024];
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            while (true)
            {
                file.Write(chunk);
            }
        }
        catch (IOException)
        {
            // ENOSPC: the filesystem is full. A last partial chunk may be in; single pages may still be free, so
            // the rest is taken a page at a time.
        }

        var page = new byte[4096];
        try
        {
            while (true)
            {
                file.Write(page);
            }
        }
        catch (IOException)
        {
        }

        return file.Length;
    }

    /// <summary>Runs <paramref name="commandLine"/> after <paramref name="prefix"/> ("" or "sudo -n ").</summary>
    private static (int Code, string Text) Run(string prefix, string commandLine)
    {
        var words = (prefix + commandLine).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        try
        {
            using var process = Process.Start(new ProcessStartInfo(words[0], words[1..]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var text = process.StandardError.ReadToEnd() + process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, text);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }

    private static InboxMessage Message(string payload) => new("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes(payload), DateTime.UtcNow, new Dictionary<string, string>());
}
