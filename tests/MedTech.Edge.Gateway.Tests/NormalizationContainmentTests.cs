using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Containment and crash recovery of Normalize and Group, on a real LiteDB file: a message whose handling throws is
/// a dead letter and the rest go on; the ids in hand are on disk, so a restart after a death retries them alone and
/// quarantines the one found in hand alone.
/// </summary>
public sealed class NormalizationContainmentTests : IDisposable
{
    private static readonly DateTime Received = new(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);
    private static readonly Normalizer SeqNormalizer = new(DeviceMapping.Parse(SeqMessages.Mapping).EnsureValid("seq"));
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-contain-").FullName;
    private GatewayStore store;

    public NormalizationContainmentTests() => store = Open();

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void GivenAMessageWhoseNormalizationThrows_WhenTheBatchIsNormalized_ThenItAloneIsAProcessingErrorAndTheOthersReachTheOutbox()
    {
        var bad = Seq("bed-2", 1);
        store.Append([Seq("bed-1", 0), bad, Seq("bed-3", 2)]);
        var faults = new TestFaults { ThrowOnPayloadSha256 = TestFaults.Sha256(bad.Payload.Span) };

        var taken = Stage(faults).RunOnce(100);

        Assert.Equal(3, taken);
        Assert.Empty(store.ReadInbox(10));
        Assert.Equal([0, 2], OutboxSeqs());
        var deadLetter = Assert.Single(store.ListDeadLetters());
        Assert.Equal(ErrorCodes.ProcessingError, deadLetter.Code);
        Assert.StartsWith("Normalize: System.InvalidOperationException: ", deadLetter.Reason, StringComparison.Ordinal);
        Assert.Equal(bad.Payload.ToArray(), deadLetter.Message.Payload.ToArray());
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
    }

    [Fact]
    public void GivenAPropertyNameWithNulOnAPayloadThatIsNotJson_WhenNormalized_ThenItIsADeadLetterWithItsPayloadAndTheOthersGoOn()
    {
        var hostile = new InboxMessage("bed-2", "devices/bed-2/x", "not json \0 at all"u8.ToArray(), Received, new Dictionary<string, string> { ["a\0b"] = "v\0" });
        store.Append([Seq("bed-1", 0), hostile, Seq("bed-3", 2)]);

        Stage().RunOnce(100);
        store.Append([Seq("bed-1", 3)]);
        Stage().RunOnce(100);

        Assert.Empty(store.ReadInbox(10));
        Assert.Equal([0, 2, 3], OutboxSeqs());
        var deadLetter = Assert.Single(store.ListDeadLetters());
        // InvalidDataFormatException once the buffer stores any property name; until then the store refuses the
        // envelope and the message is contained as a ProcessingError with its payload kept.
        Assert.Contains(deadLetter.Code, new[] { "InvalidDataFormatException", ErrorCodes.ProcessingError });
        Assert.Equal(hostile.Payload.ToArray(), deadLetter.Message.Payload.ToArray());
    }

    [Fact]
    public void GivenAnInHandRecord_WhenTheStoreIsReopened_ThenTheRecordIsStillThereAndARoundClearsIt()
    {
        store.Append([Seq("bed-1", 0)]);
        var inHand = new InHand(1, 1, 0, 1);
        store.SetInHand(GatewayStore.NormalizationInHand, inHand);

        Reopen();

        Assert.Equal(inHand, store.ReadInHand(GatewayStore.NormalizationInHand));
        Stage().RunOnce(10);
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
        Reopen();
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
        Assert.Equal([0], OutboxSeqs());
    }

    [Fact]
    public void GivenABatchInHandWhenTheProcessDied_WhenTheStageStartsAgain_ThenEachMessageIsRetriedAloneAndNewerOnesWait()
    {
        var bad = Seq("bed-2", 1);
        store.Append([Seq("bed-1", 0), bad, Seq("bed-3", 2)]);
        var held = store.ReadInbox(10);
        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(held[0].Id, held[^1].Id, 0, held[^1].Id));
        Reopen();
        store.Append([Seq("bed-1", 3)]);

        var stage = Stage(new TestFaults { ThrowOnPayloadSha256 = TestFaults.Sha256(bad.Payload.Span) });
        var first = stage.RunOnce(100);

        Assert.Equal(3, first);
        Assert.Equal([0, 2], OutboxSeqs());
        Assert.Equal(ErrorCodes.ProcessingError, Assert.Single(store.ListDeadLetters()).Code);
        Assert.Single(store.ReadInbox(10));
        Assert.Equal(1, stage.RunOnce(100));
        Assert.Equal([0, 2, 3], OutboxSeqs());
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
    }

    [Fact]
    public void GivenAMessageInHandAloneWhenTheProcessDied_WhenTheStageStartsAgain_ThenItIsPoisonWithoutBeingNormalizedAndTheRestOfTheRoundIsRetried()
    {
        store.Append([Seq("bed-1", 0), Seq("bed-2", 1), Seq("bed-3", 2)]);
        var held = store.ReadInbox(10);
        // The round died, its first message went through alone, then the process died holding the second alone.
        store.CompleteNormalization([held[0].Id], [], []);
        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(held[1].Id, held[1].Id, 1, held[^1].Id));
        Reopen();

        Stage().RunOnce(100);

        var poison = Assert.Single(store.ListDeadLetters());
        Assert.Equal(ErrorCodes.Poison, poison.Code);
        Assert.Equal(held[1].Payload.ToArray(), poison.Message.Payload.ToArray());
        Assert.Equal([2], OutboxSeqs());
        Assert.Empty(store.ReadInbox(10));
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
    }

    [Fact]
    public void GivenCommitsWithGaps_WhenReadByIdRange_ThenExactlyTheRemainingMessagesInTheRangeComeBackInOrder()
    {
        store.Append([Seq("bed-1", 0), Seq("bed-1", 1), Seq("bed-1", 2)]);
        store.Append([Seq("bed-1", 3), Seq("bed-1", 4)]);
        var all = store.ReadInbox(10);
        store.CompleteNormalization([all[1].Id, all[3].Id], [], []);

        Assert.Equal([all[2].Id, all[4].Id], store.ReadInboxRange(all[1].Id, all[4].Id).Select(m => m.Id));
        Assert.Equal([all[0].Id], store.ReadInboxRange(0, all[0].Id).Select(m => m.Id));
        Assert.Empty(store.ReadInboxRange(all[4].Id + 1, long.MaxValue));
    }

    [Fact]
    public void GivenAMessageFailingEveryTemplate_WhenDeadLettered_ThenItsReasonIsBounded()
    {
        var templates = string.Join(",", Enumerable.Range(0, 50).Select(i => $$$"""
            {"templateType": "CalculatedContent", "template": {"typeName": "t{{{i}}}", "typeMatchExpression": "$..[?(@seq)]",
             "deviceIdExpression": "$.matchedToken.device", "timestampExpression": "$.matchedToken.time",
             "values": [{"valueName": "v", "valueExpression": "$.matchedToken.missing{{{i}}}", "required": true}]}}
            """));
        var mapping = DeviceMapping.Parse($$"""{"templateType": "CollectionContent", "template": [{{templates}}]}""").EnsureValid("many");
        store.Append([Seq("bed-1", 0) with { Payload = Encoding.UTF8.GetBytes(SeqMessages.Payload(new string('d', 5000), 0)) }]);

        new NormalizationStage(store, new DeviceMappingSource(new Normalizer(mapping)), NullLogger<NormalizationStage>.Instance).RunOnce(10);

        var deadLetter = Assert.Single(store.ListDeadLetters());
        Assert.True(deadLetter.Reason.Length <= NormalizationStage.MaxReasonChars, $"{deadLetter.Reason.Length} characters");
        Assert.Contains("errors in all", deadLetter.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void GivenAKillBetweenTheCommitAndTheRecordsDelete_WhenTheDrainedInboxReusesTheIdAfterTheRestart_ThenTheNewGoodMessageIsNotPoison()
    {
        // A round died holding id 1; the restart retries it alone (record 1..1, attempt 1), which commits.
        store.Append([Seq("bed-1", 0)]);
        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(1, 1, 0, 1));
        Reopen();
        Stage().RunOnce(100);
        Assert.Equal([0], OutboxSeqs());
        // The process is killed after the LiteDB commit and before the record's delete: the file is as SetInHand left it.
        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(1, 1, 1, 1));
        Reopen();

        // The inbox is empty, so the next message a device sends gets id 1 again, before the stage's first round.
        store.Append([Seq("bed-1", 1)]);
        Stage().RunOnce(100);

        Assert.Empty(store.ListDeadLetters());
        Assert.Equal([0, 1], OutboxSeqs());
    }

    [Fact]
    public void GivenAFolderThatRefusesTheInHandRecordsDeleteAfterTheCommit_WhenARoundCompletes_ThenTheStoreStaysConsistentAndNoGoodMessageIsADeadLetter()
    {
        // From the round's normalization on, the record's path is a folder (a delete the file system refuses, as a
        // read-only or locked folder would): the record is written, the round's LiteDB commit succeeds, and only the
        // record's delete fails.
        store.Append([Seq("bed-1", 0)]);
        Stage().RunOnce(100);
        store.Append([Seq("bed-1", 1), Seq("bed-2", 2)]);
        var block = new BlockingClock(folder);
        var stage = new NormalizationStage(store, new DeviceMappingSource(SeqNormalizer), NullLogger<NormalizationStage>.Instance, timeProvider: block);
        try
        {
            stage.RunOnce(100);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A storage failure going up to the worker is fine; a dead letter, or a data error, is not.
        }

        Assert.True(block.Blocked, "the record was not there to block");
        Assert.Empty(store.ListDeadLetters());
        Assert.Empty(store.ReadInbox(10));
        Assert.Equal([0, 1, 2], OutboxSeqs());
    }

    /// <summary>Swaps the in-hand record for a non-empty folder of the same name the first time the stage reads the clock.</summary>
    private sealed class BlockingClock(string folder) : TimeProvider
    {
        public bool Blocked { get; private set; }

        public override DateTimeOffset GetUtcNow()
        {
            if (!Blocked && Directory.GetFiles(folder, "*-inhand-normalize.json").FirstOrDefault() is { } record)
            {
                File.Delete(record);
                Directory.CreateDirectory(Path.Combine(record, "blocker"));
                Blocked = true;
            }

            return base.GetUtcNow();
        }
    }

    private NormalizationStage Stage(TestFaults? faults = null) =>
        new(store, new DeviceMappingSource(SeqNormalizer), NullLogger<NormalizationStage>.Instance, faults: faults);

    private List<int> OutboxSeqs() => store.ReadOutbox(1000).SelectMany(e => MeasurementGroupJson.Deserialize(e.Payload.Span).Measurements)
        .Select(SeqMessages.SeqOf).Order().ToList();

    private GatewayStore Open() => new(new BufferOptions { Path = Path.Combine(folder, "gateway.db") });

    private void Reopen()
    {
        store.Dispose();
        store = Open();
    }

    private static InboxMessage Seq(string device, int seq) =>
        new(device, $"devices/{device}/seq", Encoding.UTF8.GetBytes(SeqMessages.Payload(device, seq)), Received, new Dictionary<string, string>());
}
