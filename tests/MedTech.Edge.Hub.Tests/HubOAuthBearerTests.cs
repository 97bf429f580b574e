using Azure.Core;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Hub.Tests;

/// <summary>
/// Event Hubs over Kafka with Entra ID: SASL OAUTHBEARER, the token from an Azure.Identity credential for
/// https://{namespace}/.default, through Confluent.Kafka's refresh handler (librdkafka asks for it as the client starts,
/// before any connection: no namespace is reachable here).
/// </summary>
public class HubOAuthBearerTests
{
    private const string Namespace = "ward-hub.servicebus.windows.net";

    private static HubOptions Options() => new() { Authentication = HubAuthentication.ManagedIdentity, FullyQualifiedNamespace = Namespace, Topic = "measurements" };

    [Fact]
    public void GivenEntraId_WhenKafkaClientsAreConfigured_ThenTheyUseSaslOAuthBearerOnTheNamespacesKafkaEndpointWithNoPassword()
    {
        var producer = HubClientConfig.Producer(Options());
        var consumer = HubClientConfig.Consumer(Options(), "fhir-writer");

        Assert.Empty(Options().Validate());
        Assert.All(new ClientConfig[] { producer, consumer }, config =>
        {
            Assert.Equal(($"{Namespace}:9093", SecurityProtocol.SaslSsl, SaslMechanism.OAuthBearer), (config.BootstrapServers, config.SecurityProtocol, config.SaslMechanism));
            Assert.Null(config.SaslPassword);
        });
        Assert.Equal(60_000, producer.RequestTimeoutMs);
        Assert.Equal("measurements", HubClientConfig.Topic(Options()));
    }

    [Fact]
    public async Task GivenEntraId_WhenAProducerStarts_ThenItAsksTheCredentialForTheNamespacesScope()
    {
        var credential = new RecordingCredential();
        var logs = new ListLogger();

        using (HubClients.CreateProducer(Options(), logs, credential: credential))
        {
            await Eventually.HoldsAsync(() => credential.Scopes.Count > 0, TimeSpan.FromSeconds(30));
        }

        Assert.Equal($"https://{Namespace}/.default", credential.Scopes.Distinct().Single());
        Assert.DoesNotContain(logs.Messages, m => m.Contains(RecordingCredential.Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task GivenEntraId_WhenTheWritersConsumerPolls_ThenItAsksTheCredentialForTheNamespacesScope()
    {
        var credential = new RecordingCredential();

        using var consumer = HubClients.CreateConsumer(Options(), "fhir-writer", new ListLogger(), credential: credential);
        await Eventually.HoldsAsync(() =>
        {
            consumer.Consume(TimeSpan.FromMilliseconds(100));
            return credential.Scopes.Count > 0;
        }, TimeSpan.FromSeconds(30));

        Assert.Equal($"https://{Namespace}/.default", credential.Scopes.Distinct().Single());
    }

    [Fact]
    public async Task GivenACredentialThatFails_WhenAProducerStarts_ThenTheFailureIsLoggedByTypeOnly()
    {
        var logs = new ListLogger();

        using (HubClients.CreateProducer(Options(), logs, credential: new RecordingCredential(fail: true)))
        {
            await Eventually.HoldsAsync(() => logs.Messages.Any(m => m.StartsWith("No Entra ID token", StringComparison.Ordinal)), TimeSpan.FromSeconds(30));
        }

        Assert.Contains(logs.Messages, m => m.Contains("(AuthenticationFailedException)", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Messages, m => m.Contains("tenant-secret-detail", StringComparison.Ordinal));
    }

    private sealed class RecordingCredential(bool fail = false) : TokenCredential
    {
        public const string Token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.secret-token";
        private readonly Lock gate = new();
        private readonly List<string> scopes = [];

        public List<string> Scopes
        {
            get
            {
                lock (gate)
                {
                    return scopes.ToList();
                }
            }
        }

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            lock (gate)
            {
                scopes.AddRange(requestContext.Scopes);
            }

            return fail ? throw new Azure.Identity.AuthenticationFailedException("tenant-secret-detail") : new AccessToken(Token, DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    private sealed class ListLogger : ILogger
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> messages = new();

        public List<string> Messages => messages.ToList();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            messages.Enqueue(formatter(state, exception) + (exception is null ? "" : " " + exception));
    }
}
