using System.Text;

namespace MedTech.Edge.Buffer.Tests;

/// <summary>A damaged buffer file at start: one clear error naming the file and the salvage, not an arbitrary exception.</summary>
public sealed class DamagedFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-damaged-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenATruncatedBuffer_WhenTheGatewayOpensIt_ThenBufferFileDamagedExceptionNamesTheFileAndTheSalvage()
    {
        var path = Buffer();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<BufferFileDamagedException>(() => new GatewayStore(new BufferOptions { Path = path }));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("medtech buffer salvage", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GivenATextFile_WhenOpenedReadOnly_ThenItIsRefusedAndUnchanged()
    {
        var path = Path.Combine(folder, "gateway.db");
        File.WriteAllText(path, "secret notes");

        Assert.Throws<BufferFileDamagedException>(() => GatewayStore.OpenReadOnly(path));
        Assert.Equal("secret notes", File.ReadAllText(path));
    }

    [Fact]
    public void GivenAHealthyBuffer_WhenOpenedReadOnly_ThenItReadsAndTheFileIsUnchanged()
    {
        var path = Buffer();
        var before = File.ReadAllBytes(path);

        using (var store = GatewayStore.OpenReadOnly(path))
        {
            Assert.Equal(3, store.Stats().Inbox);
        }

        Assert.Equal(before, File.ReadAllBytes(path));
    }

    private string Buffer()
    {
        var path = Path.Combine(folder, "gateway.db");
        using var store = new GatewayStore(new BufferOptions { Path = path });
        foreach (var i in new[] { 1, 2, 3 })
        {
            store.Append([new InboxMessage("monitor-1", "devices/monitor-1/v", Encoding.UTF8.GetBytes($"secret-{i}"), DateTime.UtcNow, new Dictionary<string, string>())]);
        }

        return path;
    }
}
