using MedTech.Edge.Standalone.LocalStore;

namespace MedTech.Edge.Standalone.Tests;

[CollectionDefinition(Umask.Collection, DisableParallelization = true)]
public sealed class UmaskRunsAlone;

/// <summary>The local FHIR store on disk under a umask that would leave it world-readable: 0700 folder, 0600 files.</summary>
[Collection(Umask.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PrivateStoreTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-private-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenAPermissiveUmask_WhenTheLocalFhirStoreIsCreated_ThenItsFolderAndFilesArePrivate()
    {
        var path = Path.Combine(folder, "store", "fhir.db");
        using (new Umask(0))
        using (new LocalFhirStore(path))
        {
            Assert.Equal("0600", Umask.Mode(path));
        }

        Assert.Equal("0700", Umask.Mode(Path.Combine(folder, "store")));
        Assert.All(Directory.EnumerateFiles(Path.Combine(folder, "store")), f => Assert.Equal("0600", Umask.Mode(f)));
    }
}
