namespace MedTech.Edge.Testing;

/// <summary>
/// The repository's root, found by walking up from the binaries to MedTech.Edge.sln, so tests read the files they
/// need from the clone itself and nothing outside it. Linked into each test and benchmark project.
/// </summary>
public static class Repository
{
    public static string Root { get; } = Locate();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MedTech.Edge.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"MedTech.Edge.sln not found above {AppContext.BaseDirectory}; run the tests from a clone of the repository.");
    }
}
