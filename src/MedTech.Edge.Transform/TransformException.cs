namespace MedTech.Edge.Transform;

/// <summary>
/// A measurement group that cannot become an Observation, with a <see cref="FhirErrorCodes"/> reason code.
/// It fails that group only; the batch goes on.
/// </summary>
public sealed class TransformException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
