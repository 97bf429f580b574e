using System.Linq.Expressions;
using System.Reflection;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// JSONPath with exactly Newtonsoft.Json's semantics (<c>SelectToken</c>/<c>SelectTokens</c>), which is what
/// MedTech and iomt-fhir use: e.g. <c>$..[?(@x)]</c> tests the token itself and all its descendants.
/// </summary>
public sealed class JsonPathExpression : TemplateExpression
{
    private readonly object? compiledPath;

    public JsonPathExpression(string text)
        : base(text, ExpressionLanguage.JsonPath)
    {
        try
        {
            // Parsing happens in Newtonsoft's path constructor, so a syntax error is found here, at template load.
            compiledPath = CompiledPath.Create?.Invoke(text);
            if (compiledPath is null)
            {
                _ = new JObject().SelectTokens(text).Any();
            }
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or TargetInvocationException)
        {
            var cause = (ex as TargetInvocationException)?.InnerException ?? ex;
            throw new TemplateExpressionException($"The JSONPath expression '{text}' could not be parsed: {cause.Message}", cause);
        }
    }

    protected override IReadOnlyList<JToken> EvaluateAll(JToken scope) => Evaluate(scope).ToList();

    protected override JToken? EvaluateSingle(JToken scope)
    {
        JToken? found = null;
        foreach (var token in Evaluate(scope))
        {
            if (found is not null)
            {
                throw MultipleTokens();
            }

            found = token;
        }

        return found;
    }

    private IEnumerable<JToken> Evaluate(JToken scope) =>
        compiledPath is null ? scope.SelectTokens(Text) : CompiledPath.Evaluate!(compiledPath, scope, scope, null);

    /// <summary>
    /// Newtonsoft's <c>SelectTokens(string)</c> re-parses the path on every call, which was most of the
    /// normalization time. Its parsed form (<c>JPath</c>) is internal, so we reach it once through reflection
    /// and keep the parsed path. This is the same code path <c>SelectTokens</c> runs, so semantics are identical;
    /// if a Newtonsoft version ever lacks it, we fall back to <c>SelectTokens(string)</c>.
    /// </summary>
    private static class CompiledPath
    {
        public static readonly Func<string, object>? Create;
        public static readonly Func<object, JToken, JToken, JsonSelectSettings?, IEnumerable<JToken>>? Evaluate;

        static CompiledPath()
        {
            var type = typeof(JToken).Assembly.GetType("Newtonsoft.Json.Linq.JsonPath.JPath");
            var constructor = type?.GetConstructor(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, [typeof(string)]);
            var evaluate = type?.GetMethod(
                "Evaluate",
                BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic,
                [typeof(JToken), typeof(JToken), typeof(JsonSelectSettings)]);
            if (type is null || constructor is null || evaluate is null || evaluate.ReturnType != typeof(IEnumerable<JToken>))
            {
                return;
            }

            var text = Expression.Parameter(typeof(string));
            Create = Expression.Lambda<Func<string, object>>(Expression.New(constructor, text), text).Compile();

            var path = Expression.Parameter(typeof(object));
            var root = Expression.Parameter(typeof(JToken));
            var current = Expression.Parameter(typeof(JToken));
            var settings = Expression.Parameter(typeof(JsonSelectSettings));
            var call = Expression.Call(Expression.Convert(path, type), evaluate, root, current, settings);
            Evaluate = Expression.Lambda<Func<object, JToken, JToken, JsonSelectSettings?, IEnumerable<JToken>>>(
                call, path, root, current, settings).Compile();
        }
    }
}
