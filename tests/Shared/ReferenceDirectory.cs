namespace MedTech.Edge.Testing;

/// <summary>
/// Where the shared reference corpus is: <c>MEDTECH_REFERENCE_DIR</c> if set, else <c>../shared/reference</c>
/// beside the repository (found by walking up to MedTech.Edge.sln). Linked into each test and benchmark project.
/// </summary>
internal static class ReferenceDirectory
{
    public static string Locate()
    {
        if (Environment.GetEnvironmentVariable("MEDTECH_REFERENCE_DIR") is { Length: > 0 } configured)
        {
            return configured;
        }

        return Path.GetFullPath(Path.Combine(RepositoryRoot(), "..", "shared", "reference"));
    }

    /// <summary>The repository's root: the folder above the binaries that holds MedTech.Edge.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MedTech.Edge.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("MedTech.Edge.sln not found above the binaries; set MEDTECH_REFERENCE_DIR to the reference folder.");
    }
}
