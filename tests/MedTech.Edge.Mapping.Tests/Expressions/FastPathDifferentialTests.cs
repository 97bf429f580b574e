using DevLab.JmesPath;
using MedTech.Edge.Mapping.Expressions;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests.Expressions;

/// <summary>
/// The fast paths for common expression shapes must give exactly what the engines upstream uses give:
/// Newtonsoft <c>SelectTokens</c> for JSONPath, JmesPath.Net (projection = each element) for JMESPath.
/// </summary>
public class FastPathDifferentialTests
{
    private static readonly JmesPath Engine = new();

    [Theory]
    [InlineData("$..[?(@hr)]")]
    [InlineData("$..[?(@hr && @x)]")]
    [InlineData("$..[?(@.hr && @.device)]")]
    [InlineData("$")]
    [InlineData("$.Body")]
    [InlineData("$.Body.hr")]
    [InlineData("$.Body.data.unit")]
    [InlineData("$.SystemProperties.iothub-connection-device-id")]
    public void GivenRandomDocuments_WhenJsonPathFastPathEvaluates_ThenSameTokensAsNewtonsoft(string text)
    {
        var expression = new JsonPathExpression(text);
        ForRandomEnvelopes(envelope => AssertSame(envelope.SelectTokens(text).ToList(), expression.SelectTokens(envelope), text));
    }

    [Theory]
    [InlineData("Body")]
    [InlineData("Body.hr")]
    [InlineData("Body.data.x")]
    [InlineData("to_array(Body)[?hr]")]
    [InlineData("to_array(@)[?Body]")]
    [InlineData("to_array(Body.data)[?hr && x]")]
    [InlineData("Body[?hr]")]
    [InlineData("Body.data[?unit && time]")]
    public void GivenRandomDocuments_WhenJmesPathFastPathEvaluates_ThenSameTokensAsJmesPathNet(string text)
    {
        var expression = new JmesPathExpression(text);
        var compiled = Engine.Parse(text);
        ForRandomEnvelopes(envelope =>
        {
            var result = compiled.Transform(envelope);
            var expected = result.IsProjection
                ? result.Projection.Select(p => p.AsJToken()).ToList()
                : result.AsJToken() is { Type: not JTokenType.Null } single ? [single] : new List<JToken>();
            AssertSame(expected, expression.SelectTokens(envelope), text);
        });
    }

    private static void ForRandomEnvelopes(Action<JObject> check)
    {
        var random = new Random(7);
        for (var i = 0; i < 3000; i++)
        {
            check(Envelope.Create(Envelope.ParseText(RandomJson.Next(random)), new Dictionary<string, string>(), new Dictionary<string, string>
            {
                ["iothub-connection-device-id"] = "dev",
            }));
        }
    }

    private static void AssertSame(List<JToken> expected, IReadOnlyList<JToken> actual, string text)
    {
        Assert.True(expected.Count == actual.Count, $"{text}: expected {expected.Count} tokens, got {actual.Count}");
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(JToken.DeepEquals(expected[i], actual[i]), $"{text}: token {i} differs: {expected[i]} vs {actual[i]}");
        }
    }
}
