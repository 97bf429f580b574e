using System.Threading.Channels;

namespace MedTech.Edge.Buffer;

/// <summary>
/// Forms batches from a channel (group commits at the gateway, the writer's batches of measurements): waits for a
/// first item, then takes more until the batch is full or has waited <c>maxWait</c> since that first item, so a
/// quiet ward is not held back and a busy one is handled in full batches. With <c>enough</c> it stops waiting once
/// that many have come and no more is at hand: a caller that knows how many usually come (the gateway: as many as
/// in its last commit, since each connection sends its next message only after its acknowledgement) saves the rest
/// of the window.
/// </summary>
public static class BatchReader
{
    public static async Task<IReadOnlyList<T>> ReadAsync<T>(ChannelReader<T> reader, int maxItems, TimeSpan maxWait, CancellationToken cancellationToken, int enough = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxItems);
        var batch = new List<T>();
        if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return batch;
        }

        using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        window.CancelAfter(maxWait);
        try
        {
            while (batch.Count < maxItems)
            {
                if (reader.TryRead(out var item))
                {
                    batch.Add(item);
                }
                else if (batch.Count >= enough || !await reader.WaitToReadAsync(window.Token).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The window closed: write what has come.
        }

        return batch;
    }
}
