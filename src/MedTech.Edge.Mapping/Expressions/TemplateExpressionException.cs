namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// An expression could not be compiled, or returned something it must not (several tokens where one is
/// expected, a function error). Named after MedTech's error so reason codes match.
/// </summary>
public sealed class TemplateExpressionException : Exception
{
    public TemplateExpressionException(string message)
        : base(message)
    {
    }

    public TemplateExpressionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
