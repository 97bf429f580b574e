using System.Text;
using MedTech.Edge.Buffer;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using MedTech.Edge.Mapping.Templates;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>
/// Normalize and Group's crash recovery on a disk that fills up (<see cref="FullDiskFile"/>: the buffer's files on a
/// simulated disk that refuses to grow while full): a retry alone that fails on storage is no death, so the same
/// process retries that message again once space is back instead of quarantining it as Poison.
/// </summary>
public sealed class NormalizationFullDiskTests : IDisposable
{
    private static readonly DateTime Received = new(2026, 11, 24, 8, 30, 0, DateTimeKind.Utc);
    private static readonly Normalizer SeqNormalizer = new(DeviceMapping.Parse(SeqMessages.Mapping).EnsureValid("seq"));
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-stage-fulldisk-").FullName;
    private readonly FullDisk disk = new();
    private readonly List<FullDiskFile> files = [];
    private GatewayStore store;

    public NormalizationFullDiskTests() => store = Open();

    public void Dispose()
    {
        store.Dispose();
        files.ForEach(f => f.Dispose());
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void GivenARetryAloneThatFailsOnAFullDisk_WhenRecoverRunsAgainInTheSameProcessOnceSpaceIsBack_ThenTheMessageIsRetriedNotPoisonAndNothingIsLost()
    {
        store.Append([Seq("bed-1", 0), Seq("bed-2", 1), Seq("bed-3", 2)]);
        var held = store.ReadInbox(10);
        // The process died holding the round; this is the restart.
        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(held[0].Id, held[^1].Id, 0, held[^1].Id));
        Reopen();

        // While the first message is retried alone, the disk fills: a device's commit fails on it, and from then on the
        // store refuses to store anything until it is reopened, so the retry's own commit fails too.
        var clock = new FillingClock(() =>
        {
            disk.Full = true;
            Assert.Throws<IOException>(() => store.Append([Seq("bed-4", 3)]));
        });
        var stage = new NormalizationStage(store, new DeviceMappingSource(SeqNormalizer), NullLogger<NormalizationStage>.Instance, timeProvider: clock);
        Assert.Throws<IOException>(() => stage.RunOnce(100));
        Assert.True(clock.Filled);
        Assert.True(disk.Refused > 0);
        Assert.Equal(new InHand(held[0].Id, held[0].Id, 1, held[^1].Id), store.ReadInHand(GatewayStore.NormalizationInHand));

        // Space is back; the inbox writer's next commit reopens the store; the worker runs the stage again.
        disk.Full = false;
        store.Reopen();
        Assert.Equal(3, stage.RunOnce(100));

        Assert.Empty(store.ListDeadLetters());
        Assert.Equal([0, 1, 2], OutboxSeqs());
        Assert.Empty(store.ReadInbox(10));
        Assert.Null(store.ReadInHand(GatewayStore.NormalizationInHand));
        Assert.Equal(0, store.Stats().Unaccounted);
    }

    [Fact]
    public void GivenTheSameRecordFoundByANewProcess_WhenItsStageStarts_ThenThatMessageIsPoison()
    {
        // The contrast: a record of one message alone that this process did not write means it died with it, twice.
        store.Append([Seq("bed-1", 0), Seq("bed-2", 1)]);
        var held = store.ReadInbox(10);
        store.SetInHand(GatewayStore.NormalizationInHand, new InHand(held[0].Id, held[0].Id, 1, held[^1].Id));
        Reopen();

        new NormalizationStage(store, new DeviceMappingSource(SeqNormalizer), NullLogger<NormalizationStage>.Instance).RunOnce(100);

        Assert.Equal(ErrorCodes.Poison, Assert.Single(store.ListDeadLetters()).Code);
        Assert.Equal([1], OutboxSeqs());
    }

    /// <summary>The stage's clock; the first time the stage reads it (at the start of a round), it runs <paramref name="fill"/>.</summary>
    private sealed class FillingClock(Action fill) : TimeProvider
    {
        public bool Filled { get; private set; }

        public override DateTimeOffset GetUtcNow()
        {
            if (!Filled)
            {
                Filled = true;
                fill();
            }

            return base.GetUtcNow();
        }
    }

    private GatewayStore Open() => new(new BufferOptions { Path = Path.Combine(folder, "gateway.db") }, null, path =>
    {
        var file = new FullDiskFile(path, disk);
        files.Add(file);
        return file;
    });

    private void Reopen()
    {
        store.Dispose();
        store = Open();
    }

    private List<int> OutboxSeqs() => store.ReadOutbox(1000).SelectMany(e => MeasurementGroupJson.Deserialize(e.Payload.Span).Measurements)
        .Select(SeqMessages.SeqOf).Order().ToList();

    private static InboxMessage Seq(string device, int seq) =>
        new(device, $"devices/{device}/seq", Encoding.UTF8.GetBytes(SeqMessages.Payload(device, seq)), Received, new Dictionary<string, string>());
}
