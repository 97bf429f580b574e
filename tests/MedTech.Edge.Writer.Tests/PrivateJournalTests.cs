using Confluent.Kafka;
using MedTech.Edge.Testing;

namespace MedTech.Edge.Writer.Tests;

[CollectionDefinition(Umask.Collection, DisableParallelization = true)]
public sealed class UmaskRunsAlone;

/// <summary>The writer's state on disk under a umask that would leave it world-readable: 0700 folders, 0600 files.</summary>
[Collection(Umask.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PrivateJournalTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-private-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAPermissiveUmask_WhenTheJournalRecordsMessagesInHand_ThenItsStateFolderIs0700AndItsFile0600()
    {
        var path = Path.Combine(folder, "state", "sub", "writer-inhand.json");
        using (new Umask(0))
        {
            new InHandJournal(path).InHand([new TopicPartitionOffset("measurements", 0, 10)], alone: false);
        }

        Assert.Equal("0700", Umask.Mode(Path.Combine(folder, "state")));
        Assert.Equal("0700", Umask.Mode(Path.Combine(folder, "state", "sub")));
        Assert.Equal("0600", Umask.Mode(path));
        Assert.Equal(1, new InHandJournal(path).Recovered);
    }
}
