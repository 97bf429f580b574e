namespace MedTech.Edge.Mqtt.Tests;

/// <summary>The MQTT ingest knows the buffer's interfaces and exceptions, not its storage library.</summary>
public sealed class StorageIndependenceTests
{
    [Fact]
    public void GivenTheMqttAssembly_WhenItsReferencesAreRead_ThenLiteDbIsNotAmongThemButTheBufferIs()
    {
        var references = typeof(EmbeddedBroker).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();

        Assert.DoesNotContain("LiteDB", references);
        Assert.Contains("MedTech.Edge.Buffer", references);
    }
}
