namespace MedTech.Edge.Buffer.Tests;

/// <summary>
/// The in-hand record is the whole crash-loop guard, so it must be where a restart looks before the work starts: a
/// message that kills the process at once (a native fault, a stack overflow) must not die before its record exists.
/// (A LiteDB commit was not enough: 5.0.20 hands it to a background disk writer and returns.)
/// </summary>
public sealed class InHandDurabilityTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-inhand-durable-").FullName;

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
