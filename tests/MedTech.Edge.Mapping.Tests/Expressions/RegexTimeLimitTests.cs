using MedTech.Edge.Mapping.Expressions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests.Expressions;

/// <summary>JSONPath <c>=~</c> never runs without a time limit, with or without a message's budget.</summary>
public class RegexTimeLimitTests
{
    private static readonly JObject Hostile = JObject.Parse($$"""{"a": [{"v": "{{new string('a', 40)}}!"}]}""");

    [Theory]
    [InlineData("$.a[?(@.v =~ /^(a+)+$/)]")]
    [InlineData("$..[?(@.v =~ /^(a|aa)+$/)]")]
    public void GivenABacktrackingFilterWithoutABudget_WhenEvaluated_ThenTheDefaultTimeOutEndsIt(string text)
    {
        var expression = new JsonPathExpression(text);

        var all = Assert.Throws<TemplateExpressionException>(() => expression.SelectTokens(Hostile));
        var single = Assert.Throws<TemplateExpressionException>(() => expression.SelectToken(Hostile));

        Assert.True(all.IsTimeLimit && single.IsTimeLimit);
        Assert.Contains("100 ms", all.Message);
    }

    [Fact]
    public void GivenABudgetWithLessLeftThanTheRegexTimeOut_WhenEvaluated_ThenTheRegexGetsOnlyWhatIsLeft()
    {
        var budget = new EvaluationBudget(TimeSpan.FromMilliseconds(30), TimeSpan.FromSeconds(5));

        var error = Assert.Throws<TemplateExpressionException>(() => new JsonPathExpression("$.a[?(@.v =~ /^(a+)+$/)]").SelectTokens(Hostile, budget));

        Assert.True(error.IsTimeLimit);
        Assert.DoesNotContain("5000 ms", error.Message);
    }

    [Fact]
    public void GivenAnExhaustedBudget_WhenChecked_ThenTimeLimit()
    {
        var budget = new EvaluationBudget(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        while (true)
        {
            try
            {
                budget.ThrowIfExceeded();
            }
            catch (TemplateExpressionException ex)
            {
                Assert.True(ex.IsTimeLimit);
                return;
            }
        }
    }
}
