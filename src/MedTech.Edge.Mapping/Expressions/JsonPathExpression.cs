using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// JSONPath with exactly Newtonsoft.Json's semantics (<c>SelectToken</c>/<c>SelectTokens</c>), which is what
/// MedTech and iomt-fhir use: e.g. <c>$..[?(@x)]</c> tests the token itself and all its descendants.
/// </summary>
public sealed class JsonPathExpression : TemplateExpression
{
    public JsonPathExpression(string text)
        : base(text, ExpressionLanguage.JsonPath)
    {
        try
        {
            // Newtonsoft parses the whole path before evaluating, so a syntax error shows here, at template load.
            _ = new JObject().SelectTokens(text).Any();
        }
        catch (JsonException ex)
        {
            throw new TemplateExpressionException($"The JSONPath expression '{text}' could not be parsed: {ex.Message}", ex);
        }
    }

    protected override IReadOnlyList<JToken> EvaluateAll(JToken scope) => scope.SelectTokens(Text).ToList();

    protected override JToken? EvaluateSingle(JToken scope)
    {
        JToken? found = null;
        foreach (var token in scope.SelectTokens(Text))
        {
            if (found is not null)
            {
                throw MultipleTokens();
            }

            found = token;
        }

        return found;
    }
}
