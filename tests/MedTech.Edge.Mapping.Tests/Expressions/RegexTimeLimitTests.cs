using MedTech.Edge.Mapping.Expressions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Tests.Expressions;

/// <summary>JSONPath <c>=~</c> never runs without a time limit, with or without a message's budget; the budget counts processor time.</summary>
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
    public void GivenABudget_WhenABacktrackingFilterIsEvaluated_ThenTheBudgetsRegexTimeOutEndsIt()
    {
        var budget = new EvaluationBudget(TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));

        var error = Assert.Throws<TemplateExpressionException>(() => new JsonPathExpression("$.a[?(@.v =~ /^(a+)+$/)]").SelectTokens(Hostile, budget));

        Assert.True(error.IsTimeLimit);
        Assert.Contains("20 ms", error.Message);
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

    [Fact]
    public void GivenAThreadThatWaitsRatherThanWorks_WhenItsBudgetIsChecked_ThenTheWaitDoesNotCountOnLinux()
    {
        var budget = new EvaluationBudget(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(50));
        using var never = new ManualResetEventSlim();
        budget.ThrowIfExceeded();

        never.Wait(TimeSpan.FromMilliseconds(500));

        if (OperatingSystem.IsLinux())
        {
            budget.ThrowIfExceeded();
        }
        else
        {
            Assert.Throws<TemplateExpressionException>(budget.ThrowIfExceeded);
        }
    }

    [Fact]
    public void GivenLinux_WhenTheThreadWorks_ThenItsProcessorTimeIsReadAndGrows()
    {
        var before = ThreadCpuTime.Milliseconds();
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(before);
            return;
        }

        Assert.NotNull(before);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (ThreadCpuTime.Milliseconds() < before + 20 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.SpinWait(1000);
        }

        Assert.True(ThreadCpuTime.Milliseconds() >= before + 20);
    }
}
