namespace MedTech.Edge.Buffer;

/// <summary>
/// Where an ingest source (<c>IIngestSource</c>) puts what it receives: the group commit of <see cref="InboxWriter"/>.
/// A source acknowledges a message to its sender only once <see cref="AppendAsync"/> completed for it; when that
/// faults (<see cref="BufferFullException"/> at capacity, an <see cref="IOException"/> when the disk fails) it does not
/// acknowledge, so the sender sends it again.
/// </summary>
public interface IInbox
{
    /// <summary>Completes with the message's id once it is committed (and forced to disk when configured).</summary>
    Task<long> AppendAsync(InboxMessage message, CancellationToken cancellationToken);

    /// <summary>The error type of the last commit when it failed; null once one succeeds. For the source's health.</summary>
    string? Fault { get; }
}
