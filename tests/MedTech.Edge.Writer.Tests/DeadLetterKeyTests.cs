namespace MedTech.Edge.Writer.Tests;

public sealed class DeadLetterKeyTests
{
    [Fact]
    public void GivenADeviceIdKey_ThenTheDeadLetterKeepsIt() => Assert.Equal("monitor-01", HubWriterWorker.BoundedKey("monitor-01"));

    [Fact]
    public void GivenAKeyOfHundredsOfKilobytes_ThenTheDeadLetterCarriesItsHashInstead()
    {
        var key = new string('x', 300_000) + "\0";

        var bounded = HubWriterWorker.BoundedKey(key);

        Assert.StartsWith("sha256:", bounded, StringComparison.Ordinal);
        Assert.Equal(7 + 64, bounded.Length);
        Assert.NotEqual(bounded, HubWriterWorker.BoundedKey(key[1..]));
    }
}
