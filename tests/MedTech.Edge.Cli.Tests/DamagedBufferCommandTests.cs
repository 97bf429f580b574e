using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MedTech.Edge.Buffer;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>The inspection commands never change a file they refuse; salvage copies what a damaged buffer still holds.</summary>
public sealed class DamagedBufferCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-cli-damaged-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    public static TheoryData<string> Inspections => new() { "stats", "list" };

    [Theory]
    [MemberData(nameof(Inspections))]
    public void GivenATextFile_WhenInspected_ThenExitTwoAndNotOneByteChanged(string command)
    {
        var path = Path.Combine(folder, "notes.txt");
        File.WriteAllText(path, "not a buffer\n");
        var before = Sha(path);

        var (exit, _, error) = Inspect(command, path);

        Assert.Equal(2, exit);
        Assert.Contains("not a LiteDB file", error, StringComparison.Ordinal);
        Assert.Equal(before, Sha(path));
        Assert.Equal(["notes.txt"], Directory.GetFiles(folder).Select(Path.GetFileName));
    }

    [Theory]
    [MemberData(nameof(Inspections))]
    public void GivenATruncatedBuffer_WhenInspected_ThenExitTwoNamingSalvageAndNotOneByteChanged(string command)
    {
        var path = Buffer("gateway.db");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var before = Sha(path);

        var (exit, _, error) = Inspect(command, path);

        Assert.Equal(2, exit);
        Assert.Contains("medtech buffer salvage", error, StringComparison.Ordinal);
        Assert.Equal(before, Sha(path));
    }

    [Theory]
    [MemberData(nameof(Inspections))]
    public void GivenRandomBytesInTheMiddleOfABuffer_WhenInspected_ThenItEitherReadsOrExitsTwoAndNotOneByteChanged(string command)
    {
        var path = Buffer("gateway.db");
        Scramble(path, seed: 18);
        var before = Sha(path);

        var (exit, _, _) = Inspect(command, path);

        Assert.Contains(exit, new[] { 0, 2 });
        Assert.Equal(before, Sha(path));
    }

    [Fact]
    public void GivenAMissingFile_WhenListed_ThenExitTwoAndNoFileIsCreated()
    {
        var path = Path.Combine(folder, "missing.db");

        Assert.Equal(2, Inspect("list", path).Exit);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void GivenAHealthyBuffer_WhenSalvaged_ThenEveryDocumentIsCopiedAndTheCopyIsABufferWithTheSameMessages()
    {
        var from = Buffer("gateway.db");
        var to = Path.Combine(folder, "salvaged.db");

        var (exit, output, _) = Run("buffer", "salvage", "--from", from, "--to", to);

        Assert.Equal(0, exit);
        using var report = JsonDocument.Parse(output);
        Assert.Equal(3, report.RootElement.GetProperty("copied").GetProperty("inbox").GetInt32());
        Assert.Equal(1, report.RootElement.GetProperty("copied").GetProperty("deadletters").GetInt32());
        using var copy = new GatewayStore(new BufferOptions { Path = to });
        Assert.Equal(["m-1", "m-2", "m-3"], copy.ReadInbox(100).Select(m => Encoding.UTF8.GetString(m.Payload.Span)));
        Assert.Single(copy.ListDeadLetters());
    }

    [Fact]
    public void GivenADamagedBuffer_WhenSalvaged_ThenTheSourceIsUnchangedAndTheCopyOpensAsABuffer()
    {
        var from = Buffer("gateway.db");
        Scramble(from, seed: 7);
        var before = Sha(from);
        var to = Path.Combine(folder, "salvaged.db");

        var (exit, output, error) = Run("buffer", "salvage", "--from", from, "--to", to);

        Assert.Equal(before, Sha(from));
        if (exit == 2)
        {
            // LiteDB could not open the source at all; nothing to copy, and said so.
            Assert.Contains("cannot open", error, StringComparison.Ordinal);
            return;
        }

        Assert.Contains(exit, new[] { 0, 1 });
        using var report = JsonDocument.Parse(output);
        Assert.True(report.RootElement.TryGetProperty("unreadable", out _));
        using var copy = new GatewayStore(new BufferOptions { Path = to });
        Assert.True(copy.ReadInbox(100).Count <= 3);
    }

    [Fact]
    public void GivenAnExistingTarget_WhenSalvaged_ThenExitTwoAndTheTargetIsUntouched()
    {
        var from = Buffer("gateway.db");
        var to = Path.Combine(folder, "taken.db");
        File.WriteAllText(to, "keep");

        Assert.Equal(2, Run("buffer", "salvage", "--from", from, "--to", to).Exit);
        Assert.Equal("keep", File.ReadAllText(to));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GivenADamagedBufferFile_WhenRunStarts_ThenItStopsWithExit2NamingTheFileAndTheSalvageAndLeavesTheFileAsItWas(bool truncated)
    {
        var data = Path.Combine(folder, "data");
        Directory.CreateDirectory(data);
        var path = Path.Combine(data, "gateway.db");
        if (truncated)
        {
            var bytes = File.ReadAllBytes(Buffer("healthy.db"));
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        }
        else
        {
            File.WriteAllText(path, "not a buffer");
        }

        var before = Sha(path);

        var (exit, _, error) = Run("run", "--data", data, "--mqtt-port", MedTech.Edge.Testing.Ports.Free().ToString(), "--metrics-port", "0");

        Assert.Equal(2, exit);
        Assert.Contains(path, error, StringComparison.Ordinal);
        Assert.Contains("medtech buffer salvage", error, StringComparison.Ordinal);
        Assert.Equal(before, Sha(path));
    }

    private static (int Exit, string Output, string Error) Inspect(string command, string path) =>
        command == "list" ? Run("deadletter", "list", "--buffer", path) : Run("buffer", "stats", "--buffer", path);

    /// <summary>A real buffer of three commits and a dead letter, checkpointed into the one file (no log beside it).</summary>
    private string Buffer(string name)
    {
        var path = Path.Combine(folder, name);
        using (var store = new GatewayStore(new BufferOptions { Path = path }))
        {
            foreach (var i in new[] { 1, 2, 3, 4 })
            {
                store.Append([new InboxMessage("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes($"m-{i}"), DateTime.UtcNow, new Dictionary<string, string>())]);
            }

            var last = store.ReadInbox(100)[^1];
            store.CompleteNormalization([last.Id], [], [new DeadLetter(last, "DroppedEvent", "No template matched.", DateTime.UtcNow)]);
        }

        Assert.False(File.Exists(Path.Combine(folder, Path.GetFileNameWithoutExtension(name) + "-log.db")));
        return path;
    }

    /// <summary>Overwrites 512 bytes in the middle of the file with seeded random bytes.</summary>
    private static void Scramble(string path, int seed)
    {
        var bytes = File.ReadAllBytes(path);
        new Random(seed).NextBytes(bytes.AsSpan(bytes.Length / 2, Math.Min(512, bytes.Length / 2)));
        File.WriteAllBytes(path, bytes);
    }

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
