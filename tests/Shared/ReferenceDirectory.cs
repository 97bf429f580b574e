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

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MedTech.Edge.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "reference"));
            }
        }

        throw new DirectoryNotFoundException("MedTech.Edge.sln not found above the binaries; set MEDTECH_REFERENCE_DIR to the reference folder.");
    }
}
