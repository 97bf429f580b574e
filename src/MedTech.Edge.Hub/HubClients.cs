using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace MedTech.Edge.Hub;

/// <summary>Builds Kafka clients whose librdkafka logs go through the host's logging (they name brokers, never data).</summary>
public static partial class HubClients
{
    /// <param name="fatalError">Where a fatal error is recorded: librdkafka flags one only through this callback.</param>
    public static IProducer<string, byte[]> CreateProducer(HubOptions options, ILogger logger, ProducerFatalError? fatalError = null) =>
        new ProducerBuilder<string, byte[]>(HubClientConfig.Producer(options))
            .SetLogHandler((_, message) => OnLog(logger, message))
            .SetErrorHandler((_, error) =>
            {
                OnError(logger, error);
                fatalError?.Observe(error);
            })
            .Build();

    /// <param name="configure">More of the builder, e.g. rebalance handlers (they can only be set before the consumer is built).</param>
    public static IConsumer<string, byte[]> CreateConsumer(HubOptions options, string groupId, ILogger logger, Action<ConsumerBuilder<string, byte[]>>? configure = null)
    {
        var builder = new ConsumerBuilder<string, byte[]>(HubClientConfig.Consumer(options, groupId))
            .SetLogHandler((_, message) => OnLog(logger, message))
            .SetErrorHandler((_, error) => OnError(logger, error));
        configure?.Invoke(builder);
        return builder.Build();
    }

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
    }
}
