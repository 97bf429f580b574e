using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions;

/// <summary>
/// The processor time one message may still spend in expressions, on the thread that normalizes it. Checked
/// between evaluations (an evaluation itself cannot be interrupted; each regex match in it stops at the regex
/// time-out), so a message's work ends within its limit plus one evaluation. Processor time, not elapsed time,
/// so a gateway busy with other work does not dead-letter good messages (measured here under load: 50,000 readings
/// took 0.5 s of processor time and 3 s of elapsed time). Where processor time is unknown (not Linux), elapsed time.
/// </summary>
/// <remarks>
/// Reading processor time is a system call, too dear for every message of a few microseconds. So a thread reads it
/// at most every <see cref="RefreshMilliseconds"/> and a message starts from the thread's last reading (counting up
/// to that much of earlier messages' time as its own); and it is read again only once the cheap wall clock
/// (<see cref="Environment.TickCount64"/>) says the limit may be reached, since a thread cannot use more processor
/// time than time passes.
/// </remarks>
public sealed class EvaluationBudget
{
    private const long RefreshMilliseconds = 10;

    [ThreadStatic]
    private static long lastReadAt;

    [ThreadStatic]
    private static long? lastCpu;

    private readonly long limitMilliseconds;
    private readonly JsonSelectSettings settings;
    private readonly long started;
    private readonly long? cpuAtStart;
    private long checkAt;

    public EvaluationBudget(TimeSpan limit, TimeSpan regexMatchTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(limit, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(regexMatchTimeout, TimeSpan.Zero);
        limitMilliseconds = Math.Max(1, (long)limit.TotalMilliseconds);
        settings = new JsonSelectSettings { RegexMatchTimeout = regexMatchTimeout };
        started = Environment.TickCount64;
        if (lastCpu is null || started - lastReadAt >= RefreshMilliseconds)
        {
            lastCpu = ThreadCpuTime.Milliseconds();
            lastReadAt = started;
        }

        cpuAtStart = lastCpu;
        checkAt = started + limitMilliseconds;
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

        var used = cpuAtStart is { } start && ThreadCpuTime.Milliseconds() is { } cpu ? cpu - start : now - started;
        if (used >= limitMilliseconds)
        {
            throw TemplateExpressionException.TimeLimit(
                $"The message used more than its limit of {limitMilliseconds} ms of processor time in the mapping's expressions (MaxTimePerMessage).");
        }

        // Time passed but the thread did not get all of it (other work ran): look again when it could have.
        checkAt = now + (limitMilliseconds - used);
    }

    /// <summary>Settings for one SelectToken(s) call, after checking the budget: the message's regex time-out.</summary>
    internal JsonSelectSettings SelectSettings()
    {
        ThrowIfExceeded();
        return settings;
    }
}
