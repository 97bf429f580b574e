using Azure.Core;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Hub;

/// <summary>Builds Kafka clients whose librdkafka logs go through the host's logging (they name brokers, never data).</summary>
public static partial class HubClients
{
    /// <param name="fatalError">Where a fatal error is recorded: librdkafka flags one only through this callback.</param>
    /// <param name="credential">With Entra ID, a credential instead of the one the options name (tests).</param>
    public static IProducer<string, byte[]> CreateProducer(HubOptions options, ILogger logger, ProducerFatalError? fatalError = null, TokenCredential? credential = null)
    {
        var builder = new ProducerBuilder<string, byte[]>(HubClientConfig.Producer(options))
            .SetLogHandler((_, message) => OnLog(logger, message))
            .SetErrorHandler((_, error) =>
            {
                OnError(logger, error);
                fatalError?.Observe(error);
            });
        if (Credential(options, credential) is { } tokens)
        {
            builder.SetOAuthBearerTokenRefreshHandler(OAuthBearerRefresh(tokens, options.FullyQualifiedNamespace!, logger));
        }

        return builder.Build();
    }

    /// <param name="configure">More of the builder, e.g. rebalance handlers (they can only be set before the consumer is built).</param>
    /// <param name="credential">With Entra ID, a credential instead of the one the options name (tests).</param>
    public static IConsumer<string, byte[]> CreateConsumer(HubOptions options, string groupId, ILogger logger, Action<ConsumerBuilder<string, byte[]>>? configure = null,
        TokenCredential? credential = null)
    {
        var builder = new ConsumerBuilder<string, byte[]>(HubClientConfig.Consumer(options, groupId))
            .SetLogHandler((_, message) => OnLog(logger, message))
            .SetErrorHandler((_, error) => OnError(logger, error));
        if (Credential(options, credential) is { } tokens)
        {
            builder.SetOAuthBearerTokenRefreshHandler(OAuthBearerRefresh(tokens, options.FullyQualifiedNamespace!, logger));
        }

        configure?.Invoke(builder);
        return builder.Build();
    }

    /// <summary>
    /// Confluent.Kafka's OAUTHBEARER refresh: librdkafka asks at start and again before the token expires; the token is
    /// Entra ID's for <c>https://{namespace}/.default</c>, as Event Hubs' Kafka endpoint wants. A failure is reported to
    /// librdkafka (which asks again) and logged by exception type only; the token itself is never logged.
    /// </summary>
    public static Action<IClient, string> OAuthBearerRefresh(TokenCredential credential, string fullyQualifiedNamespace, ILogger logger)
    {
        var context = new TokenRequestContext([$"https://{fullyQualifiedNamespace}/.default"]);
        return (client, _) =>
        {
            try
            {
                var token = credential.GetToken(context, CancellationToken.None);
                client.OAuthBearerSetToken(token.Token, token.ExpiresOn.ToUnixTimeMilliseconds(), PrincipalName);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.TokenFailed(logger, ex.GetType().Name);
                client.OAuthBearerSetTokenFailure($"No Entra ID token ({ex.GetType().Name}).");
            }
        };
    }

    // librdkafka wants a principal name with the token; Event Hubs takes the identity from the token itself.
    private const string PrincipalName = "medtech-edge";

    private static TokenCredential? Credential(HubOptions options, TokenCredential? given) =>
        options.Authentication == HubAuthentication.ConnectionString ? null : given ?? options.EntraId.Create(options.Authentication);

    private static void OnLog(ILogger logger, LogMessage message)
    {
        var level = Level(message.Level);
        if (logger.IsEnabled(level))
        {
            Log.Librdkafka(logger, level, message.Facility, message.Message);
        }
    }

    private static void OnError(ILogger logger, Error error)
    {
        var level = error.IsFatal ? LogLevel.Error : LogLevel.Warning;
        if (logger.IsEnabled(level))
        {
            var code = error.Code.ToString();
            Log.Librdkafka(logger, level, code, error.Reason);
        }
    }

    // A broker that is down is the normal state of an outage, already counted and retried: warning, not error.
    private static LogLevel Level(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error or SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 4201, Message = "librdkafka {Facility}: {Message}")]
        public static partial void Librdkafka(ILogger logger, LogLevel level, string facility, string message);

        [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "No Entra ID token for the hub ({Error}); librdkafka asks again, the outbox keeps everything meanwhile.")]
        public static partial void TokenFailed(ILogger logger, string error);
    }
}
