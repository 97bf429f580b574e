using Confluent.Kafka;
using MedTech.Edge.Hub;

namespace MedTech.Edge.Testing;

/// <summary>Reads what reached a hub topic, as a fresh consumer group from the start, until a condition holds or time runs out.</summary>
public static class HubReader
{
    public static List<Message<string, byte[]>> Read(string bootstrapServers, string topic, Func<List<Message<string, byte[]>>, bool> done, TimeSpan timeout)
    {
        var options = new HubOptions { BootstrapServers = bootstrapServers, Topic = topic };
        using var consumer = new ConsumerBuilder<string, byte[]>(HubClientConfig.Consumer(options, "test-" + Guid.NewGuid())).Build();
        consumer.Subscribe(topic);
        var received = new List<Message<string, byte[]>>();
        for (var deadline = DateTime.UtcNow + timeout; !done(received) && DateTime.UtcNow < deadline;)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(500)) is { } result)
            {
                received.Add(result.Message);
            }
        }

        return received;
    }
}
