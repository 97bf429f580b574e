using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Testing;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

[CollectionDefinition(Umask.Collection, DisableParallelization = true)]
public sealed class UmaskRunsAlone;

/// <summary>
/// Data at rest after real runs, under a umask that would leave everything world-readable: every file the gateway and
/// the writer create (buffer, LiteDB logs, in-hand records, local FHIR store) and the salvage copy are 0600, every folder
/// they create 0700.
/// </summary>
[Collection(Umask.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PrivateDataTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-private-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAPermissiveUmask_WhenTheDemoRuns_ThenTheDataFolderIs0700AndEveryFileInIt0600()
    {
        var data = Path.Combine(folder, "new", "data");
        int exit;
        string output, error;
        using (new Umask(0))
        {
            (exit, output, error) = Run("demo", "--data", data, "--mqtt-port", Ports.Free().ToString(), "--metrics-port", "0", "--devices", "2", "--rate", "2", "--duration", "2");
        }

        Assert.True(exit == 0, output + error);
        Assert.Equal("0700", Umask.Mode(Path.Combine(folder, "new")));
        var files = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.Contains("gateway.db", files);
        Assert.Contains("fhir.db", files);
        AssertPrivate(data);
    }

    [Fact]
    public void GivenAPermissiveUmask_WhenABufferIsSalvaged_ThenTheCopyAndItsNewFolderArePrivate()
    {
        var from = Path.Combine(folder, "gateway.db");
        using (var store = new GatewayStore(new BufferOptions { Path = from }))
        {
            store.Append([new InboxMessage("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes("{\"patient\":\"p-1\"}"), DateTime.UtcNow, new Dictionary<string, string>())]);
        }

        var to = Path.Combine(folder, "salvage", "copy.db");
        int exit;
        using (new Umask(0))
        {
            (exit, _, _) = Run("buffer", "salvage", "--from", from, "--to", to);
        }

        Assert.Equal(0, exit);
        AssertPrivate(Path.Combine(folder, "salvage"));
    }

    /// <summary>The folder and every folder in it are 0700, every file 0600.</summary>
    private static void AssertPrivate(string root)
    {
        Assert.Equal("0700", Umask.Mode(root));
        Assert.All(Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories), d => Assert.Equal("0700", Umask.Mode(d)));
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(files);
        Assert.All(files, f => Assert.True(Umask.Mode(f) == "0600", $"{f}: {Umask.Mode(f)}"));
    }
}
