using MedTech.Edge.Testing;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary>A hostile review of issue 19's data at rest: what the operator's commands write next to the private buffer.</summary>
[Collection(Umask.Collection)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileReview19ExportTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-hostile19-export-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>
    /// <c>medtech fhir export</c> writes every Observation and Patient of the local store (PHI) to a file created with the
    /// umask's mode, so under a container's or shell's umask (022, here 0) any local user reads it, while the store it
    /// came from is 0600.
    /// </summary>
    [Fact]
    public void GivenAPermissiveUmask_WhenTheLocalFhirStoreIsExported_ThenTheExportIs0600()
    {
        var data = Path.Combine(folder, "data");
        var (exit, output, error) = Run("demo", "--data", data, "--mqtt-port", Ports.Free().ToString(), "--metrics-port", "0", "--devices", "1", "--rate", "2", "--duration", "2");
        Assert.True(exit == 0, output + error);

        var ndjson = Path.Combine(folder, "export.ndjson");
        using (new Umask(0))
        {
            (exit, _, error) = Run("fhir", "export", "--data", data, "--out", ndjson);
        }

        Assert.True(exit == 0, error);
        Assert.Contains("\"Patient\"", File.ReadAllText(ndjson), StringComparison.Ordinal);
        Assert.Equal("0600", Umask.Mode(ndjson));
    }
}
