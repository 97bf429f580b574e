namespace MedTech.Edge.Writer;

/// <summary>A hub message (or one measurement group of it) the writer could not put on the FHIR server, and why.</summary>
public sealed record WriterDeadLetter(string Key, byte[] Payload, string Code, string Reason)
{
    /// <summary>
    /// The hub message's headers, which go with its body to the dead-letter topic: a device message's own application
    /// and system properties (cloud normalization), so that a replay after a mapping fix sees the envelope it saw; a
    /// gateway's group its gateway's name and trace context, so that a replay is written with the same Provenance.
    /// </summary>
    public Confluent.Kafka.Headers? Envelope { get; init; }
}

/// <summary>Reason codes of the writer's own (the FHIR ones are in <see cref="Transform.FhirErrorCodes"/>).</summary>
public static class WriterErrorCodes
{
    /// <summary>A hub message, or an element of a packed one, that is not a measurement group (<c>{"id", "measurements"}</c>).</summary>
    public const string InvalidHubMessage = "InvalidHubMessage";
}
