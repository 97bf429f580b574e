namespace MedTech.Edge.Mapping.Normalization;

/// <summary>Ends the normalization of one message at once (a limit reached); carries the error it ends with.</summary>
internal sealed class MessageLimitException(NormalizationError error) : Exception(error.Message)
{
    public NormalizationError Error { get; } = error;
}
