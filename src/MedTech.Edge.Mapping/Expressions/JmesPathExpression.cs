using DevLab.JmesPath;
using MedTech.Edge.Mapping.Expressions.Functions;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>JMESPath through JmesPath.Net (as upstream), with MedTech's eight custom functions registered.</summary>
public sealed class JmesPathExpression : TemplateExpression
{
    // The parser and its function table are read-only after set-up; compiled expressions are evaluated concurrently.
    private static readonly JmesPath Engine = CreateEngine();

    private readonly DevLab.JmesPath.Expressions.JmesPathExpression compiled;

    public JmesPathExpression(string text)
        : base(text, ExpressionLanguage.JmesPath)
    {
        try
        {
            compiled = Engine.Parse(text);
        }
        catch (Exception ex)
        {
            throw new TemplateExpressionException($"The JMESPath expression '{text}' could not be parsed: {ex.Message}", ex);
        }
    }

    /// <summary>A projection yields each element as a match; any other non-null result is one match.</summary>
    /// <remarks>
    /// The budget is not consulted here: JmesPath.Net has no hook to stop an evaluation and runs no regex on device
    /// data (its <c>replace</c> matches an escaped literal), so the caller's checks between evaluations bound it.
    /// </remarks>
    protected override IReadOnlyList<JToken> EvaluateAll(JToken scope, EvaluationBudget? budget)
    {
        var result = Transform(scope);
        if (result.IsProjection)
        {
            return result.Projection.Select(p => p.AsJToken()).ToList();
        }

        var token = result.AsJToken();
        return token.Type == JTokenType.Null ? [] : [token];
    }

    protected override JToken? EvaluateSingle(JToken scope, EvaluationBudget? budget)
    {
        var result = Transform(scope);
        if (result.IsProjection && result.Projection.Length > 1)
        {
            throw MultipleTokens();
        }

        var token = result.AsJToken();
        return token.Type == JTokenType.Null ? null : token;
    }

    private DevLab.JmesPath.Expressions.JmesPathArgument Transform(JToken scope)
    {
        try
        {
            return compiled.Transform(scope);
        }
        catch (Exception ex) when (ex is not TemplateExpressionException and not IncompatibleDataException)
        {
            // JmesPath.Net reports function and type errors as plain exceptions; give them MedTech's name. Our
            // functions report a number that cannot be a time (fromUnixTimestamp) as incompatible data, the implausible-time code.
            throw new TemplateExpressionException($"The expression '{Text}' failed: {ex.Message}", ex);
        }
    }

    private static JmesPath CreateEngine()
    {
        var engine = new JmesPath();
        foreach (var function in MedTechFunctions.All)
        {
            engine.FunctionRepository.Register(function.Name, function);
        }

        return engine;
    }
}
