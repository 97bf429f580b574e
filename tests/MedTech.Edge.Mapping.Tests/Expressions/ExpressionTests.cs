using MedTech.Edge.Mapping.Expressions;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests.Expressions;

public class ExpressionTests
{
    [Fact]
    public void GivenRecursiveFilter_WhenSelected_ThenTheTokenItselfAndDescendantsMatchInDocumentOrder()
    {
        var json = Json("""{"x": 1, "a": {"x": 2, "b": [{"x": 3}]}}""");

        var matches = new JsonPathExpression("$..[?(@x)]").SelectTokens(json);

        Assert.Equal([1, 2, 3], matches.Select(m => (int)m["x"]!));
    }

    [Fact]
    public void GivenExistsFilter_WhenPropertyIsNullOrFalse_ThenItStillMatches()
    {
        var matches = new JsonPathExpression("$..[?(@x)]").SelectTokens(Json("""[{"x": null}, {"x": false}, {"y": 1}]"""));

        Assert.Equal(2, matches.Count);
    }

    [Theory]
    [InlineData(ExpressionLanguage.JsonPath, "$.a[*]")]
    [InlineData(ExpressionLanguage.JmesPath, "a[*]")]
    public void GivenSingleValueExpressionWithSeveralMatches_WhenSelected_ThenTemplateExpressionException(ExpressionLanguage language, string text)
    {
        var expression = TemplateExpression.Compile(text, language);

        Assert.Throws<TemplateExpressionException>(() => expression.SelectToken(Json("""{"a": [1, 2]}""")));
    }

    [Fact]
    public void GivenJmesPathProjection_WhenSelectingTokens_ThenEachElementIsAMatchAndNullIsNone()
    {
        var json = Json("""{"Body": [{"hr": 1}, {"x": 2}, {"hr": 3}]}""");

        Assert.Equal(2, new JmesPathExpression("Body[?hr]").SelectTokens(json).Count);
        Assert.Empty(new JmesPathExpression("missing").SelectTokens(json));
        Assert.Single(new JmesPathExpression("to_array(Body[0])[?hr]").SelectTokens(json));
    }

    [Theory]
    [InlineData("add(`2`, `3`)", "5")]
    [InlineData("subtract(`2`, `3.5`)", "-1.5")]
    [InlineData("multiply(`72`, `0.0254`)", "1.8288")]
    [InlineData("divide(`100`, `25`)", "4")]
    [InlineData("divide(`40`, `50`)", "0.8")]
    [InlineData("pow(`2`, `10`)", "1024")]
    [InlineData("pow(`100`, `0.5`)", "10")]
    [InlineData("insertString('abc', 'X', `3`)", "abcX")]
    [InlineData("insertString('abc', 'X', `0`)", "Xabc")]
    [InlineData("fromUnixTimestamp(`1625677200`)", "2021-07-07T17:00:00Z")]
    [InlineData("fromUnixTimestampMs(`1625677200123`)", "2021-07-07T17:00:00.123Z")]
    public void GivenCustomFunction_WhenEvaluated_ThenResultAsMedTechStoresIt(string expression, string expected)
    {
        var token = new JmesPathExpression(expression).SelectToken(new JObject());

        Assert.Equal(expected, TokenValues.ToText(token!));
    }

    [Theory]
    [InlineData("divide(`1`, `0`)")]
    [InlineData("divide(`1.5`, `0`)")]
    [InlineData("multiply(`9223372036854775807`, `2`)")]
    [InlineData("pow(`40`, `50`)")]
    [InlineData("insertString('abc', 'X', `4`)")]
    [InlineData("add('1', `2`)")]
    [InlineData("fromUnixTimestamp(`1.5`)")]
    public void GivenFunctionThatWouldCorruptOrCrash_WhenEvaluated_ThenTemplateExpressionException(string expression)
    {
        var compiled = new JmesPathExpression(expression);

        Assert.Throws<TemplateExpressionException>(() => compiled.SelectToken(new JObject()));
    }

    [Fact]
    public void GivenWrongArgumentCount_WhenCompiled_ThenTemplateExpressionException()
    {
        Assert.Throws<TemplateExpressionException>(() => new JmesPathExpression("add(`1`)"));
    }

    private static JToken Json(string text) => Envelope.ParseText(text)!;
}
