using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// The processor time one message may still spend in expressions, on the thread that normalizes it. Checked
/// between evaluations (an evaluation itself cannot be interrupted; each regex match in it stops at the regex
/// time-out), so a message's work ends within its limit plus one evaluation. Processor time, not elapsed time,
/// so a gateway busy with other work does not dead-letter good messages (measured here under load: 50,000 readings
/// took 0.5 s of processor time and 3 s of elapsed time). Reading it is a system call, too dear for every message,
/// so the cheap wall clock (<see cref="Environment.TickCount64"/>) decides when to look: a message still running
/// after <see cref="ProbeMilliseconds"/> reads its thread's processor time then, and counts those first
/// milliseconds as if all were processor time. Where processor time is unknown (not Linux), elapsed time counts.
/// </summary>
public sealed class EvaluationBudget
{
    private const long ProbeMilliseconds = 10;

    private readonly long limitMilliseconds;
    private readonly JsonSelectSettings settings;
    private readonly long started = Environment.TickCount64;
    private long checkAt;
    private long? cpuBaseline;
    private long credited;

    public EvaluationBudget(TimeSpan limit, TimeSpan regexMatchTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limit, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(regexMatchTimeout, TimeSpan.Zero);
        limitMilliseconds = Math.Max(1, (long)limit.TotalMilliseconds);
        settings = new JsonSelectSettings { RegexMatchTimeout = regexMatchTimeout };
        checkAt = started + Math.Min(limitMilliseconds, ProbeMilliseconds);
    }

    /// <summary>The default of <c>NormalizationLimits.RegexMatchTimeout</c>.</summary>
    public static readonly TimeSpan DefaultRegexMatchTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>What JSONPath's <c>=~</c> gets when no budget is given (template checks, tools): the default time-out.</summary>
    internal static JsonSelectSettings DefaultSelectSettings { get; } = new() { RegexMatchTimeout = DefaultRegexMatchTimeout };

    /// <exception cref="TemplateExpressionException">The time is up (<see cref="TemplateExpressionException.IsTimeLimit"/>).</exception>
    public void ThrowIfExceeded()
    {
        var now = Environment.TickCount64;
        if (now < checkAt)
        {
            return;
        }

        var used = Used(now);
        if (used >= limitMilliseconds)
        {
            throw TemplateExpressionException.TimeLimit(
                $"The message used more than its limit of {limitMilliseconds} ms of processor time in the mapping's expressions (MaxTimePerMessage).");
        }

        // A thread cannot use more processor time than time passes: nothing to read before then.
        checkAt = now + (limitMilliseconds - used);
    }

    /// <summary>Settings for one SelectToken(s) call, after checking the budget: the message's regex time-out.</summary>
    internal JsonSelectSettings SelectSettings()
    {
        ThrowIfExceeded();
        return settings;
    }

    private long Used(long now)
    {
        if (cpuBaseline is { } baseline && ThreadCpuTime.Milliseconds() is { } cpu)
        {
            return credited + (cpu - baseline);
        }

        if (cpuBaseline is null && ThreadCpuTime.Milliseconds() is { } first)
        {
            cpuBaseline = first;
            credited = now - started;
            return credited;
        }

        return now - started;
    }
}
