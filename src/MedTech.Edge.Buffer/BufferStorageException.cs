namespace MedTech.Edge.Buffer;

/// <summary>
/// The buffer's storage engine failed an operation (LiteDB's own exception is the inner one): callers handle the
/// buffer's exceptions only, so no project but the buffer references the storage library. An <see cref="IOException"/>,
/// like the file errors beside it, so a stage treats it as the store failing (retry, reopen), not as bad data. The
/// message names the engine's exception type and error code only: the engine's text can quote a stored value.
/// </summary>
public sealed class BufferStorageException : IOException
{
    public BufferStorageException(Exception inner)
        : base($"The buffer's storage failed ({inner?.GetType().Name}{(inner is LiteDB.LiteException lite ? $" {lite.ErrorCode}" : "")}).", inner)
    {
    }
}
