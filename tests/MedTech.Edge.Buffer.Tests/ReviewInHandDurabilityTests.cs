namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// Review: the in-hand record is the whole crash-loop guard, and "it must be on disk before the work starts". LiteDB
/// 5.0.20 hands a commit to a background disk writer and returns, so a message that kills the process at once (a native
/// fault, a stack overflow) can die before its record is anywhere a restart would find it: a crash loop again.
/// </summary>
public sealed class ReviewInHandDurabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-review-inhand-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenSetInHandReturned_WhenTheFilesAreReadAtThatMoment_ThenTheRecordIsInThem()
    {
        var live = Path.Combine(folder, "live");
        Directory.CreateDirectory(live);
        var missing = 0;
        using var store = new GatewayStore(new BufferOptions { Path = Path.Combine(live, "gateway.db") });
        for (var i = 1; i <= 30; i++)
        {
            store.SetInHand(GatewayStore.NormalizationInHand, new InHand(i, i, 0, i));

            // The disk as a kill right now (the stage starts on the message) would leave it.
            var copy = Path.Combine(folder, $"copy-{i}");
            Directory.CreateDirectory(copy);
            foreach (var file in Directory.GetFiles(live))
            {
                using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var target = File.Create(Path.Combine(copy, Path.GetFileName(file)));
                source.CopyTo(target);
            }

            using var restarted = new GatewayStore(new BufferOptions { Path = Path.Combine(copy, "gateway.db") });
            if (restarted.ReadInHand(GatewayStore.NormalizationInHand)?.FirstId != i)
            {
                missing++;
            }
        }

        Assert.Equal(0, missing);
    }
}
