using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>A compiled JSONPath or JMESPath expression, evaluated against a Newtonsoft token as upstream does.</summary>
public abstract class TemplateExpression
{
    protected TemplateExpression(string text) => Text = text;

    public string Text { get; }

    public abstract ExpressionLanguage Language { get; }

    /// <summary>Every token the expression matches, in document order (used for <c>typeMatchExpression</c>).</summary>
    public abstract IReadOnlyList<JToken> SelectTokens(JToken scope);

    /// <summary>The single token the expression matches, or null; several matches are an error.</summary>
    public abstract JToken? SelectToken(JToken scope);

    /// <summary>Compiles an expression; a syntax error throws <see cref="TemplateExpressionException"/>.</summary>
    public static TemplateExpression Compile(string text, ExpressionLanguage language) => language switch
    {
        ExpressionLanguage.JmesPath => new JmesPathExpression(text),
        _ => new JsonPathExpression(text),
    };

    public override string ToString() => Text;
}
