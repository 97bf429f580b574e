namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// A device message as received: the raw body bytes plus the envelope properties MedTech's expressions
/// read (<c>$.Properties.*</c>, <c>$.SystemProperties.*</c>).
/// </summary>
public sealed record DeviceMessage(ReadOnlyMemory<byte> Body, DateTime IngestionTimeUtc)
{
    private static readonly Dictionary<string, string> None = [];

    public IReadOnlyDictionary<string, string> Properties { get; init; } = None;

    public IReadOnlyDictionary<string, string> SystemProperties { get; init; } = None;

    /// <summary>
    /// Envelope properties that are not text, typed as the sender typed them (an Event Hubs event's AMQP values: numbers,
    /// booleans, null, times, uuids, binary), as MedTech's envelope holds them; an entry replaces the text of the same name
    /// in <see cref="Properties"/>. Times become ISO 8601 UTC text, as times in the body stay text
    /// (<see cref="Envelope.ToToken"/>).
    /// </summary>
    public IReadOnlyDictionary<string, object?> PropertyValues { get; init; } = NoValues;

    /// <summary>As <see cref="PropertyValues"/>, for <see cref="SystemProperties"/>.</summary>
    public IReadOnlyDictionary<string, object?> SystemPropertyValues { get; init; } = NoValues;

    private static readonly Dictionary<string, object?> NoValues = [];
}
