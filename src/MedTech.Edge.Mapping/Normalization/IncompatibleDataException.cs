namespace MedTech.Edge.Mapping.Normalization;

/// <summary>A required value is missing or a value cannot be converted; MedTech's name for it.</summary>
public sealed class IncompatibleDataException : Exception
{
    public IncompatibleDataException(string message)
        : base(message)
    {
    }

    public IncompatibleDataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
