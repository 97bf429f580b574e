using System.Threading.Channels;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Buffer.Tests;

public class BatchReaderTests
{
    [Fact]
    public async Task GivenMoreThanABatch_WhenRead_ThenBatchesAreFullAndInOrder()
    {
        var channel = Channel.CreateUnbounded<int>();
        foreach (var i in Enumerable.Range(0, 700))
        {
            channel.Writer.TryWrite(i);
        }

        var first = await BatchReader.ReadAsync(channel.Reader, 300, TimeSpan.FromMinutes(1), default);
        var second = await BatchReader.ReadAsync(channel.Reader, 300, TimeSpan.FromMinutes(1), default);

        Assert.Equal(Enumerable.Range(0, 300), first);
        Assert.Equal(Enumerable.Range(300, 300), second);
    }

    [Fact]
    public async Task GivenAFewItemsAndThenSilence_WhenRead_ThenThePartBatchIsReturnedWhenTheWaitEnds()
    {
        var channel = Channel.CreateUnbounded<int>();
        channel.Writer.TryWrite(1);
        channel.Writer.TryWrite(2);

        var batch = await BatchReader.ReadAsync(channel.Reader, 300, TimeSpan.FromMilliseconds(50), default);

        Assert.Equal([1, 2], batch);
    }

    [Fact]
    public async Task GivenEnoughItemsAtHand_WhenRead_ThenTheBatchIsReturnedWithoutWaitingOutTheWindow()
    {
        var channel = Channel.CreateUnbounded<int>();
        foreach (var i in Enumerable.Range(0, 3))
        {
            channel.Writer.TryWrite(i);
        }

        // A window of a minute: only "enough" can end this read in time.
        var batch = await BatchReader.ReadAsync(channel.Reader, 300, TimeSpan.FromMinutes(1), default, enough: 2).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([0, 1, 2], batch);
    }

    [Fact]
    public async Task GivenACompletedChannel_WhenRead_ThenTheRestAndThenAnEmptyBatch()
    {
        var channel = Channel.CreateUnbounded<int>();
        channel.Writer.TryWrite(1);
        channel.Writer.Complete();

        Assert.Equal([1], await BatchReader.ReadAsync(channel.Reader, 300, TimeSpan.FromMinutes(1), default));
        Assert.Empty(await BatchReader.ReadAsync(channel.Reader, 300, TimeSpan.FromMinutes(1), default));
    }
}
