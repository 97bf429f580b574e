using Confluent.Kafka;
using MedTech.Edge.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// A dead letter the hub will not take holds the writer (its batch stays uncommitted, nothing after it is written):
/// the hub check turns unhealthy with the error's code, so the unhealthy alert fires instead of the writer stalling
/// with everything green; once the topic takes it again, the dead letter is sent and the hub is healthy. Real mock
/// cluster (answering "not authorised" for the dead-letter topic) and FHIR test server.
/// </summary>
public sealed class DeadLetterStuckTests : WriterPipelineTest
{
    public DeadLetterStuckTests()
        : base("medtech-writer-dlstuck-", ("measurements", 1))
    {
    }

    [Fact]
    public async Task GivenADeadLetterTopicTheWriterMayNotWrite_WhenAHubMessageIsDeadLettered_ThenHubHealthIsUnhealthyUntilItMay()
    {
        cluster.SetTopicError("fhir-writer-deadletter", ErrorCode.TopicAuthorizationFailed);
        using var writer = TestHosts.Writer(server.BaseUrl, cluster.BootstrapServers);
        await writer.StartAsync();
        var health = writer.Services.GetRequiredService<ModuleHealth>();
        using (var producer = new ProducerBuilder<string, byte[]>(new ProducerConfig { BootstrapServers = cluster.BootstrapServers }).Build())
        {
            await producer.ProduceAsync("measurements", new Message<string, byte[]> { Key = "monitor-1", Value = """{"id":"g","measurements":[null]}"""u8.ToArray() });
        }

        string Describe() => string.Join("; ", health.Snapshot().Select(c => $"{c.Key}: {c.Value.Status} {c.Value.Reason}"));
        await Eventually.HoldsAsync(() => health.Snapshot().TryGetValue("hub", out var hub) && hub.Status == HealthStatus.Unhealthy, TimeSpan.FromSeconds(60), Describe);
        var reason = health.Snapshot()["hub"].Reason;
        Assert.Contains("dead-letter topic", reason, StringComparison.Ordinal);
        Assert.Contains(nameof(ErrorCode.TopicAuthorizationFailed), reason, StringComparison.Ordinal);
        Assert.DoesNotContain("monitor-1", reason, StringComparison.Ordinal);

        cluster.SetTopicError("fhir-writer-deadletter", ErrorCode.NoError);
        Assert.Single(HubReader.Read(cluster.BootstrapServers, "fhir-writer-deadletter", r => r.Count >= 1, TimeSpan.FromSeconds(60)));
        await Eventually.HoldsAsync(() => health.Snapshot()["hub"].Status == HealthStatus.Healthy, TimeSpan.FromSeconds(60), Describe);
        await writer.StopAsync();
    }
}
