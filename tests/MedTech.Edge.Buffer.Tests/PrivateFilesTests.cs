using System.Text;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Buffer.Tests;

[CollectionDefinition(Umask.Collection, DisableParallelization = true)]
public sealed class UmaskRunsAlone;

/// <summary>
/// Data at rest through the real buffer on a real LiteDB file: under a umask that would make everything world-readable,
/// every file the buffer writes is 0600 and every folder it creates 0700.
/// </summary>
[Collection(Umask.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PrivateFilesTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-private-").FullName;
    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAPermissiveUmask_WhenTheBufferIsCreatedAndUsed_ThenItsFoldersAre0700AndEveryFileInThem0600()
    {
        var path = Path.Combine(folder, "a", "b", "gateway.db");
        using (new Umask(0))
        using (var store = new GatewayStore(new BufferOptions { Path = path }, clock))
        {
            store.Append([Message("monitor-1", "{\"patient\":\"p-1\"}"), Message("monitor-2", "{\"patient\":\"p-2\"}")]);
            store.SetInHand("inHand:normalize", new InHand(1, 2, 1, 2));

            // While the module runs: the log holds the committed payloads until the next checkpoint.
            Assert.True(File.Exists(PrivateFiles.LiteDbLogPath(path)));
            AssertPrivate(Path.Combine(folder, "a"));
        }

        Assert.Equal("0700", Umask.Mode(Path.Combine(folder, "a")));
        Assert.Equal("0700", Umask.Mode(Path.Combine(folder, "a", "b")));
        Assert.True(File.Exists(Path.Combine(folder, "a", "b", "gateway-inhand-normalize.json")));
        AssertPrivate(Path.Combine(folder, "a"));
    }

    [Fact]
    public void GivenAnExistingFolderAndFilesLeftReadableByAnOlderRelease_WhenTheBufferOpens_ThenTheFilesBecome0600AndTheFolderIsLeftAlone()
    {
        var path = Path.Combine(folder, "gateway.db");
        using (var store = new GatewayStore(new BufferOptions { Path = path }, clock))
        {
            store.Append([Message("monitor-1", "{}")]);
            store.SetInHand("inHand:normalize", new InHand(1, 1, 1, 1));
        }

        File.SetUnixFileMode(folder, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(path, (UnixFileMode)0b110_100_100);
        // A temporary in-hand file a killed process left, world-writable.
        var leftOver = Path.Combine(folder, "gateway-inhand-normalize.json.tmp");
        File.WriteAllText(leftOver, "x");
        File.SetUnixFileMode(leftOver, (UnixFileMode)0b110_110_110);

        using (new Umask(0))
        using (var store = new GatewayStore(new BufferOptions { Path = path }, clock))
        {
            store.SetInHand("inHand:normalize", new InHand(1, 1, 1, 1));
            Assert.Equal("0600", Umask.Mode(path));
            Assert.Equal("0600", Umask.Mode(PrivateFiles.LiteDbLogPath(path)));
            Assert.Equal("0600", Umask.Mode(Path.Combine(folder, "gateway-inhand-normalize.json")));
        }

        Assert.Equal("0755", Umask.Mode(folder));
    }

    [Fact]
    public void GivenAPermissiveUmask_WhenBytesAreWrittenPrivately_ThenTheFileIs0600EvenIfItExistedWorldWritable()
    {
        var path = Path.Combine(folder, "x.json");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);

        using (new Umask(0))
        {
            PrivateFiles.WriteAllBytes(path, "new"u8);
            PrivateFiles.WriteAllBytes(Path.Combine(folder, "y.json"), "new"u8);
        }

        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal("0600", Umask.Mode(path));
        Assert.Equal("0600", Umask.Mode(Path.Combine(folder, "y.json")));
    }

    [Fact]
    public void GivenTheLogPath_ThenItIsLiteDbsNameBesideTheFile()
    {
        Assert.Equal("/d/gateway-log.db", PrivateFiles.LiteDbLogPath("/d/gateway.db"));
        Assert.Equal("/d/buffer-log", PrivateFiles.LiteDbLogPath("/d/buffer"));
    }

    /// <summary>Every file under <paramref name="root"/> is 0600 and every folder 0700 (the root included).</summary>
    private static void AssertPrivate(string root)
    {
        Assert.Equal("0700", Umask.Mode(root));
        Assert.All(Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories), d => Assert.Equal("0700", Umask.Mode(d)));
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.True(Umask.Mode(f) == "0600", $"{f}: {Umask.Mode(f)}"));
    }

    private InboxMessage Message(string device, string payload) =>
        new(device, "devices/" + device, Encoding.UTF8.GetBytes(payload), clock.GetUtcNow().UtcDateTime, new Dictionary<string, string>());
}
