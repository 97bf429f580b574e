using DevLab.JmesPath.Functions;

namespace MedTech.Edge.Mapping.Expressions.Functions;

/// <summary>The complete set of custom functions MedTech registers for JMESPath (there is no <c>matchesRegex</c>).</summary>
internal static class MedTechFunctions
{
    public static IReadOnlyList<JmesPathFunction> All { get; } =
    [
        ArithmeticFunction.Add,
        ArithmeticFunction.Subtract,
        ArithmeticFunction.Multiply,
        ArithmeticFunction.Divide,
        ArithmeticFunction.Pow,
        new InsertStringFunction(),
        FromUnixTimestampFunction.Seconds,
        FromUnixTimestampFunction.Milliseconds,
    ];
}
