namespace MedTech.Edge.Files;

/// <summary>
/// A file the module needs cannot be used as it is (missing, of another kind, damaged), so a restart cannot help: the
/// module stops once with this message (see <c>ModuleRunner</c>) instead of crash-looping. The message names the file
/// and the way out, and never its content (it may hold patient data).
/// </summary>
public class FileUnusableException : Exception
{
    public FileUnusableException(string path, string message, Exception? inner = null)
        : base(message, inner)
    {
        FilePath = path;
    }

    public string FilePath { get; }
}
