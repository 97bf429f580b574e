namespace MedTech.Edge.Writer.DeviceMessages;

/// <summary>
/// An event whose headers hold one system-property name twice (or a system value over the size cap): a device set a
/// property named as IoT Hub's own, so which one IoT Hub vouches for cannot be told. The message names the property
/// only (a fixed name from our list, never a value).
/// </summary>
public sealed class DuplicateSystemPropertyException : Exception
{
    public DuplicateSystemPropertyException()
    {
    }

    public DuplicateSystemPropertyException(string name)
        : base($"The system property '{name}' appears more than once (or over the size cap); a device may be setting it.")
    {
    }

    public DuplicateSystemPropertyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
