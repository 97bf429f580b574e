using System.Text.RegularExpressions;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// JSONPath with exactly Newtonsoft.Json's semantics (<c>SelectToken</c>/<c>SelectTokens</c>), which is what
/// MedTech and iomt-fhir use: e.g. <c>$..[?(@x)]</c> tests the token itself and all its descendants.
/// </summary>
/// <remarks>
/// A <c>=~</c> filter runs a .NET regex from the mapping against device values; upstream gives it no time limit,
/// so a backtracking pattern and a long value hang normalization. Every call here passes Newtonsoft's
/// <see cref="JsonSelectSettings.RegexMatchTimeout"/>. We do not rely on the process-wide
/// <c>REGEX_DEFAULT_MATCH_TIMEOUT</c>: it must be a <see cref="TimeSpan"/> set in code before the first
/// <see cref="Regex"/> of the process is created (a runtimeconfig string breaks every regex), which a library
/// cannot ensure; and it is not needed, since the only regexes that see device data are these (our own run on
/// template text at load; JmesPath.Net's <c>replace</c> matches an escaped literal, in linear time).
/// </remarks>
public sealed class JsonPathExpression : TemplateExpression
{
    public JsonPathExpression(string text)
        : base(text, ExpressionLanguage.JsonPath)
    {
        try
        {
            // Newtonsoft parses the whole path before evaluating, so a syntax error shows here, at template load.
            _ = new JObject().SelectTokens(text, EvaluationBudget.DefaultSelectSettings).Any();
        }
        catch (JsonException ex)
        {
            throw new TemplateExpressionException($"The JSONPath expression '{text}' could not be parsed: {ex.Message}", ex);
        }
    }

    protected override IReadOnlyList<JToken> EvaluateAll(JToken scope, EvaluationBudget? budget)
    {
        try
        {
            return scope.SelectTokens(Text, Settings(budget)).ToList();
        }
        catch (RegexMatchTimeoutException ex)
        {
            throw RegexTimeLimit(ex);
        }
    }

    protected override JToken? EvaluateSingle(JToken scope, EvaluationBudget? budget)
    {
        try
        {
            JToken? found = null;
            foreach (var token in scope.SelectTokens(Text, Settings(budget)))
            {
                if (found is not null)
                {
                    throw MultipleTokens();
                }

                found = token;
            }

            return found;
        }
        catch (RegexMatchTimeoutException ex)
        {
            throw RegexTimeLimit(ex);
        }
    }

    private static JsonSelectSettings Settings(EvaluationBudget? budget) => budget?.SelectSettings() ?? EvaluationBudget.DefaultSelectSettings;

    // The exception's own message and Input property hold the device value; neither goes further.
    private TemplateExpressionException RegexTimeLimit(RegexMatchTimeoutException ex) => TemplateExpressionException.TimeLimit(
        $"The expression '{Text}' stopped: its regular expression ran past its time limit of {ex.MatchTimeout.TotalMilliseconds:0} ms (RegexMatchTimeout).");
}
