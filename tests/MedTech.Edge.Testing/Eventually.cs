namespace MedTech.Edge.Testing;

/// <summary>Waits for a condition that background work makes true, failing with a description when it does not.</summary>
public static class Eventually
{
    public static async Task HoldsAsync(Func<bool> condition, TimeSpan timeout, Func<string>? describe = null)
    {
        for (var deadline = DateTime.UtcNow + timeout; !condition(); await Task.Delay(50))
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out" + (describe is null ? "" : ": " + describe()));
        }
    }
}
