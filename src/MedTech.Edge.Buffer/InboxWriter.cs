using System.Threading.Channels;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Group commit for the inbox: messages from every connection are gathered for up to
/// <see cref="BufferOptions.CommitWindow"/> (or <see cref="BufferOptions.CommitBatchSize"/> messages) and stored with
/// one commit, so throughput does not hinge on one flush per message. <see cref="AppendAsync"/> completes only when
/// the message is durable; only then may the device be acknowledged.
/// </summary>
public sealed class InboxWriter(GatewayStore store, BufferOptions options)
{
    private readonly Channel<(InboxMessage Message, TaskCompletionSource<long> Stored)> pending =
        Channel.CreateBounded<(InboxMessage, TaskCompletionSource<long>)>(new BoundedChannelOptions(options.CommitBatchSize * 4)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });

    /// <summary>Completes with the message's id once it is committed (and forced to disk); faults with <see cref="BufferFullException"/> at capacity.</summary>
    public async Task<long> AppendAsync(InboxMessage message, CancellationToken cancellationToken)
    {
        var stored = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await pending.Writer.WriteAsync((message, stored), cancellationToken).ConfigureAwait(false);
        return await stored.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The commit loop; runs until cancelled, then fails whatever is still waiting (it was not stored).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            var previous = int.MaxValue;
            while (!cancellationToken.IsCancellationRequested)
            {
                var batch = await BatchReader.ReadAsync(pending.Reader, options.CommitBatchSize, options.CommitWindow, cancellationToken, enough: previous).ConfigureAwait(false);
                Commit(batch);
                previous = Math.Max(1, batch.Count);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            pending.Writer.TryComplete();
            while (pending.Reader.TryRead(out var item))
            {
                item.Stored.TrySetCanceled(CancellationToken.None);
            }
        }
    }

    private void Commit(IReadOnlyList<(InboxMessage Message, TaskCompletionSource<long> Stored)> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            var ids = store.Append(batch.Select(b => b.Message).ToList());
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Stored.TrySetResult(ids[i]);
            }
        }
        catch (Exception ex)
        {
            // Nothing of the batch was stored (one transaction): no message of it may be acknowledged.
            foreach (var item in batch)
            {
                item.Stored.TrySetException(ex);
            }
        }
    }
}
