using Confluent.Kafka;

namespace MedTech.Edge.Writer.Tests;

public sealed class InHandJournalTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-inhand-").FullName;

    private string FilePath => Path.Combine(folder, "state", "inhand.json");

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static TopicPartitionOffset At(int partition, long offset) => new("measurements", partition, offset);

    [Fact]
    public void GivenAProcessThatDiedWithABatchInHand_WhenTheNextStarts_ThenItsMessagesGoAloneAndOthersInBatches()
    {
        new InHandJournal(FilePath).InHand([At(0, 10), At(0, 12), At(1, 5)], alone: false);

        var next = new InHandJournal(FilePath);
        Assert.Equal(2, next.Recovered);
        Assert.Equal(InHandJournal.Handling.Alone, next.Classify(At(0, 11)));
        Assert.Equal(InHandJournal.Handling.Alone, next.Classify(At(1, 5)));
        Assert.Equal(InHandJournal.Handling.Batch, next.Classify(At(0, 13)));
        Assert.Equal(InHandJournal.Handling.Batch, next.Classify(At(2, 10)));
    }

    [Fact]
    public void GivenAProcessThatDiedWithAMessageAloneInHand_WhenTheNextStarts_ThenThatMessageIsQuarantinedAndTheOtherSuspectsStillGoAlone()
    {
        new InHandJournal(FilePath).InHand([At(0, 10), At(0, 12)], alone: false);
        var second = new InHandJournal(FilePath);
        second.InHand([At(0, 11)], alone: true);

        var third = new InHandJournal(FilePath);
        Assert.Equal(InHandJournal.Handling.Quarantine, third.Classify(At(0, 11)));
        Assert.Equal(InHandJournal.Handling.Alone, third.Classify(At(0, 12)));
    }

    [Fact]
    public void GivenSuspects_WhenTheStoredOffsetsPassThem_ThenTheyAreForgottenAndTheFileIsGone()
    {
        new InHandJournal(FilePath).InHand([At(0, 10), At(0, 12), At(1, 5)], alone: false);
        var next = new InHandJournal(FilePath);

        next.Done([new TopicPartitionOffset("measurements", 0, 13)]);
        Assert.Equal(1, new InHandJournal(FilePath).Recovered);
        next.Done([new TopicPartitionOffset("measurements", 1, 6)]);

        Assert.False(File.Exists(FilePath));
        Assert.Equal(InHandJournal.Handling.Batch, next.Classify(At(1, 5)));
    }

    [Fact]
    public void GivenAFinishedBatch_WhenTheProcessStartsAgain_ThenNothingIsSuspect()
    {
        var journal = new InHandJournal(FilePath);
        journal.InHand([At(0, 10), At(0, 12)], alone: false);
        journal.Done([new TopicPartitionOffset("measurements", 0, 13)]);

        Assert.Equal(0, new InHandJournal(FilePath).Recovered);
    }

    [Fact]
    public void GivenADamagedJournal_WhenTheProcessStarts_ThenItStartsWithNothingInHand()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        File.WriteAllText(FilePath, "[null, {\"Topic\": null}, {not json\0");

        var journal = new InHandJournal(FilePath);

        Assert.Equal(0, journal.Recovered);
        Assert.Equal(InHandJournal.Handling.Batch, journal.Classify(At(0, 1)));
    }
}
