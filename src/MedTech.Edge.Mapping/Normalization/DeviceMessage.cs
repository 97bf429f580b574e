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
}
