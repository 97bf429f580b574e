using Confluent.Kafka;

namespace MedTech.Edge.Hub;

/// <summary>
/// A producer's fatal error, once librdkafka has raised one (the instance is unusable from then on). Confluent.Kafka
/// flags it as fatal only on the client's error callback: the failed messages' delivery reports and Produce's
/// exceptions carry the underlying code with <see cref="Error.IsFatal"/> false, so those alone cannot tell it from an outage.
/// </summary>
public sealed class ProducerFatalError
{
    private Error? error;

    /// <summary>The first fatal error observed, or null.</summary>
    public Error? Current => Volatile.Read(ref error);

    public void Observe(Error candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (candidate.IsFatal)
        {
            Interlocked.CompareExchange(ref error, candidate, null);
        }
    }
}
