namespace MedTech.Edge.Mapping.Normalization;

/// <summary>The message body cannot be read as the device meant it (not JSON, not UTF-8 where a value is read); MedTech's name for it.</summary>
public sealed class InvalidDataFormatException : Exception
{
    public InvalidDataFormatException(string message)
        : base(message)
    {
    }

    public InvalidDataFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
