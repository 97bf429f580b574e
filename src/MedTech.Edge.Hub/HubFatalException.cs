namespace MedTech.Edge.Hub;

/// <summary>
/// The Kafka producer hit a fatal error: librdkafka's idempotent producer can no longer keep its guarantees (e.g. the
/// hub refused its producer id) and the instance is unusable for good. Retrying cannot help, so this is not a
/// <see cref="HubUnavailableException"/>: the worker lets it stop the module with a non-zero exit code, and the
/// module's restart policy starts it again with a new producer. Nothing is lost: the outbox keeps every entry.
/// </summary>
public sealed class HubFatalException(string message) : Exception(message);
