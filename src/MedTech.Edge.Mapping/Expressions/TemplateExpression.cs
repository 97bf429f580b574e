using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>A compiled JSONPath or JMESPath expression, evaluated against a Newtonsoft token as upstream does.</summary>
public abstract class TemplateExpression
{
    // Plain property chains and existence scans skip the general engines (most of the normalization time).
    private readonly PropertyPath? fastPath;

    private protected TemplateExpression(string text, ExpressionLanguage language)
    {
        Text = text;
        Language = language;
        fastPath = PropertyPath.TryCreate(text, language);
        MatchedTokenPath = fastPath?.AfterMatchedToken;
    }

    public string Text { get; }

    public ExpressionLanguage Language { get; }

    /// <summary>For <c>$.matchedToken.a</c> / <c>matchedToken.a</c>: the path to read from the match itself.</summary>
    internal PropertyPath? MatchedTokenPath { get; }

    /// <summary>Every token the expression matches, in document order (used for <c>typeMatchExpression</c>).</summary>
    /// <param name="scope">What the expression runs against.</param>
    /// <param name="budget">The message's time; without one, regexes still get the default time-out.</param>
    public IReadOnlyList<JToken> SelectTokens(JToken scope, EvaluationBudget? budget = null)
    {
        if (fastPath is null)
        {
            return EvaluateAll(scope, budget);
        }

        if (fastPath.IsExistenceScan)
        {
            return fastPath.Scan(scope);
        }

        if (fastPath.IsFilter)
        {
            return fastPath.Filter(scope);
        }

        // JSONPath returns a JSON null as a match; JMESPath treats null as "no result".
        return fastPath.Select(scope) is { } token && (Language == ExpressionLanguage.JsonPath || token.Type != JTokenType.Null) ? [token] : [];
    }

    /// <summary>The single token the expression matches, or null; several matches are an error.</summary>
    public JToken? SelectToken(JToken scope, EvaluationBudget? budget = null)
    {
        if (fastPath is null)
        {
            return EvaluateSingle(scope, budget);
        }

        var found = SelectTokens(scope);
        return found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw MultipleTokens(),
        };
    }

    /// <summary>Compiles an expression; a syntax error throws <see cref="TemplateExpressionException"/>.</summary>
    public static TemplateExpression Compile(string text, ExpressionLanguage language) => language switch
    {
        ExpressionLanguage.JmesPath => new JmesPathExpression(text),
        _ => new JsonPathExpression(text),
    };

    public override string ToString() => Text;

    protected abstract IReadOnlyList<JToken> EvaluateAll(JToken scope, EvaluationBudget? budget);

    protected abstract JToken? EvaluateSingle(JToken scope, EvaluationBudget? budget);

    protected TemplateExpressionException MultipleTokens() =>
        new($"The expression '{Text}' returned more than one token where one value is expected.");
}
