using System.Text.Json;

namespace MedTech.Edge.Buffer;

/// <summary>
/// What a stage has in hand, on disk: before a round a stage records the ids it is about to handle, and the store
/// clears the record once the round's transaction has committed. A record found at start-up therefore means the
/// process died (a kill, an out-of-memory, a native fault) while holding those ids, and the stage can retry them alone
/// and then quarantine the one that kills it, instead of dying on it at every restart. The cost is one small file
/// write per round (<see cref="Set"/>).
/// </summary>
internal sealed class InHandFiles(string bufferPath, bool readOnly)
{
    /// <summary>
    /// The record of <paramref name="stage"/>, or null when it has nothing in hand. Ids are a range: a stage reads
    /// the oldest ids first, so what it held is exactly what is still waiting within <see cref="InHand.FirstId"/>
    /// to <see cref="InHand.LastId"/>; newer arrivals always get higher ids. A damaged record counts as none.
    /// </summary>
    public InHand? Read(string stage)
    {
        ArgumentNullException.ThrowIfNull(stage);
        var path = PathOf(stage);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<InHand>(File.ReadAllBytes(path)) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Records <paramref name="inHand"/> for <paramref name="stage"/> before the work starts: a small file beside the
    /// buffer, replaced by a rename, so it is in the operating system's hands when this returns and a kill cannot lose
    /// it. Not a LiteDB commit: LiteDB 5.0.20 returns from a commit before its disk writer has written it (a message
    /// that killed the process at once could die before its record existed), and a checkpoint per round to force it
    /// cost 15-20 % of the end-to-end throughput. Not fsynced: it guards against a process dying, not a power cut.
    /// </summary>
    public void Set(string stage, InHand inHand)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(inHand);
        var path = PathOf(stage);
        var temporary = path + ".tmp";
        PrivateFiles.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(inHand));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// Clears the record of <paramref name="stage"/>. A stage that completes a round passes the stage to the round's
    /// store call instead, which clears it once the round's transaction has committed.
    /// </summary>
    public void Clear(string stage)
    {
        ArgumentNullException.ThrowIfNull(stage);
        File.Delete(PathOf(stage));
    }

    /// <summary>After the transaction that completed the round has committed (a failed one leaves the record).</summary>
    public void ClearAfterCommit(string? stage)
    {
        if (stage is not null && !readOnly)
        {
            try
            {
                Clear(stage);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The round has committed: a caller told it failed would redo it. The record stays and names ids that
                // have left the buffer (new ones never get them again, see BufferState.Load); the next Set replaces it.
            }
        }
    }

    /// <summary>The record's file: beside the buffer, one per stage (<c>gateway-inhand-normalize.json</c>).</summary>
    private string PathOf(string stage) =>
        Path.ChangeExtension(bufferPath, null) + "-" + stage.Replace("inHand:", "inhand-", StringComparison.Ordinal) + ".json";
}

/// <summary>
/// Ids a stage holds: <paramref name="Attempt"/> 0 for a normal round, 1 for a retry of one alone after a death.
/// <paramref name="RecoverUpTo"/> is the last id of the round that died, so a recovery goes on alone up to there.
/// <paramref name="Entry"/> is the index of the one held alone within its id, where an id holds several (an outbox batch).
/// </summary>
public sealed record InHand(long FirstId, long LastId, int Attempt, long RecoverUpTo, int Entry = 0);
