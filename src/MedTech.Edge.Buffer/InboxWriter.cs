using System.Threading.Channels;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Group commit for the inbox: messages from every connection are gathered for up to
/// <see cref="BufferOptions.CommitWindow"/> (or <see cref="BufferOptions.CommitBatchSize"/> messages) and stored with
/// one commit, so throughput does not hinge on one flush per message. <see cref="AppendAsync"/> completes only when
/// the message is durable; only then may the device be acknowledged. After a failed commit (a full disk) the next
/// commit first reopens the store, at most once per <see cref="ReopenInterval"/>: LiteDB does not write again on the
/// engine that failed, and the gateway must take messages again once space is back, without a restart.
/// </summary>
public sealed class InboxWriter(IInboxStore store, BufferOptions options) : IInbox
{
    private bool reopen;
    private long lastReopen;
    private volatile string? fault;

    /// <summary>The error type of the last commit when it failed (nothing is acknowledged meanwhile); null once one succeeds.</summary>
    public string? Fault => fault;

    /// <summary>The least time between two reopen attempts while the store keeps failing (an open reads the whole index).</summary>
    internal TimeSpan ReopenInterval { get; set; } = TimeSpan.FromSeconds(1);

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
            if (reopen)
            {
                ReopenStore();
            }

            var ids = store.Append(batch.Select(b => b.Message).ToList());
            fault = null;
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Stored.TrySetResult(ids[i]);
            }
        }
        catch (Exception ex)
        {
            if (ex is not BufferFullException)
            {
                reopen = true;
                fault = ex.GetType().Name;
            }

            // Nothing of the batch was stored (one transaction): no message of it may be acknowledged.
            foreach (var item in batch)
            {
                item.Stored.TrySetException(ex);
            }
        }
    }

    private void ReopenStore()
    {
        if (lastReopen != 0 && TimeSpan.FromMilliseconds(Environment.TickCount64 - lastReopen) < ReopenInterval)
        {
            throw new IOException($"The buffer failed to write ({fault}); the next reopen is due within {ReopenInterval}.");
        }

        lastReopen = Environment.TickCount64;
        store.Reopen();
        reopen = false;
    }
}
