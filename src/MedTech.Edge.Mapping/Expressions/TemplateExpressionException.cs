namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// An expression could not be compiled, or returned something it must not (several tokens where one is
/// expected, a function error), or ran out of time. Named after MedTech's error so reason codes match.
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

    /// <summary>
    /// The message's time limit or a regex time-out was reached: the whole message fails at once, since every
    /// further evaluation would only spend more time on it.
    /// </summary>
    public bool IsTimeLimit { get; private init; }

    internal static TemplateExpressionException TimeLimit(string message, Exception? innerException = null) =>
        innerException is null ? new(message) { IsTimeLimit = true } : new(message, innerException) { IsTimeLimit = true };
}
