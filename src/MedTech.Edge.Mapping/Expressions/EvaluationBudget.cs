using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// The time one message may still spend in expressions. Checked between evaluations (an evaluation itself cannot
/// be interrupted), and the JSONPath regex time-out never exceeds what is left, so a message's work ends within
/// its limit plus one evaluation. Wall-clock time through <see cref="Environment.TickCount64"/>: a few
/// nanoseconds to read, millisecond resolution, which is all a limit of about a second needs.
/// </summary>
public sealed class EvaluationBudget
{
    private readonly long deadline;
    private readonly TimeSpan limit;
    private readonly TimeSpan regexMatchTimeout;

    public EvaluationBudget(TimeSpan limit, TimeSpan regexMatchTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limit, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(regexMatchTimeout, TimeSpan.Zero);
        this.limit = limit;
        this.regexMatchTimeout = regexMatchTimeout;
        deadline = Environment.TickCount64 + (long)limit.TotalMilliseconds;
    }

    /// <summary>The default of <c>NormalizationLimits.RegexMatchTimeout</c>.</summary>
    public static readonly TimeSpan DefaultRegexMatchTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>What JSONPath's <c>=~</c> gets when no budget is given (template checks, tools): the default time-out.</summary>
    internal static JsonSelectSettings DefaultSelectSettings { get; } = new() { RegexMatchTimeout = DefaultRegexMatchTimeout };

    /// <exception cref="TemplateExpressionException">The time is up (<see cref="TemplateExpressionException.IsTimeLimit"/>).</exception>
    public void ThrowIfExceeded()
    {
        if (Environment.TickCount64 >= deadline)
        {
            throw TemplateExpressionException.TimeLimit(
                $"The message took longer than its time limit of {limit.TotalMilliseconds:0} ms in the mapping's expressions (MaxTimePerMessage).");
        }
    }

    /// <summary>Settings for one SelectToken(s) call: the regex time-out, cut to what is left of the budget.</summary>
    internal JsonSelectSettings SelectSettings()
    {
        ThrowIfExceeded();
        var left = TimeSpan.FromMilliseconds(deadline - Environment.TickCount64);
        return new JsonSelectSettings { RegexMatchTimeout = left < regexMatchTimeout ? left : regexMatchTimeout };
    }
}
