using MedTech.Edge.Files;

namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer file cannot be used as it is: missing (for inspection), not a gateway buffer, or damaged so that LiteDB
/// cannot read it. The message names the file and the recovery, and no content of it (it may hold patient data).
/// </summary>
public sealed class BufferFileDamagedException : FileUnusableException
{
    public BufferFileDamagedException(string path, string why)
        : base(path, $"The buffer file {path} cannot be used: {why}.")
    {
    }

    public BufferFileDamagedException(string path, Exception inner)
        : base(path, $"The buffer file {path} is damaged ({inner?.GetType().Name}). Stop the module, then copy what is readable to a new file with " +
            $"'medtech buffer salvage --from {path} --to <new file>', and point Buffer:Path at the new file (or move it into place).", inner)
    {
    }
}
