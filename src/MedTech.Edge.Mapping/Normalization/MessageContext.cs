using MedTech.Edge.Mapping.Expressions;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>One message being normalized: its envelope, what it produced so far, and the limits it must keep.</summary>
internal sealed class MessageContext
{
    /// <summary>Errors kept per message: a dead letter needs the first few, not one per element of a huge array.</summary>
    public const int MaxErrors = 100;

    // No reading dates from the first or last year DateTime can hold, so a group window or a time-zone offset
    // added downstream never leaves its range, whatever the plausible window is set to.
    private static readonly DateTime Earliest = new(2, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime Latest = new(9998, 12, 31, 23, 59, 59, DateTimeKind.Utc);

    public MessageContext(JObject envelope, DateTime? ingestionTimeUtc, NormalizationLimits limits)
    {
        Envelope = envelope;
        IngestionTimeUtc = ingestionTimeUtc;
        Limits = limits;
        Budget = new EvaluationBudget(limits.MaxTimePerMessage, limits.RegexMatchTimeout);
        EarliestOccurrence = ingestionTimeUtc is { } received ? Max(Earliest, received.Ticks - limits.PlausiblePast.Ticks) : Earliest;
        LatestOccurrence = ingestionTimeUtc is { } now ? Min(Latest, now.Ticks + limits.PlausibleFuture.Ticks) : Latest;
    }

    public JObject Envelope { get; }

    /// <summary>The body had bytes that are not UTF-8, read as U+FFFD (see <see cref="Normalization.Envelope.ParseBody(System.ReadOnlySpan{byte}, out bool)"/>).</summary>
    public bool BodyNotUtf8 { get; init; }

    public DateTime? IngestionTimeUtc { get; }

    public NormalizationLimits Limits { get; }

    public EvaluationBudget Budget { get; }

    public DateTime EarliestOccurrence { get; }

    public DateTime LatestOccurrence { get; }

    public List<Measurement> Measurements { get; } = [];

    public List<NormalizationError> Errors { get; } = [];

    /// <exception cref="MessageLimitException">The message produced more than its limit.</exception>
    public void Add(Measurement measurement)
    {
        if (Measurements.Count >= Limits.MaxMeasurementsPerMessage)
        {
            throw new MessageLimitException(new NormalizationError(ErrorCodes.IncompatibleData,
                $"The message produces more than {Limits.MaxMeasurementsPerMessage} measurements (MaxMeasurementsPerMessage)."));
        }

        Measurements.Add(measurement);
    }

    /// <exception cref="MessageLimitException">This was the last error kept; the message stops here.</exception>
    public void Add(NormalizationError error)
    {
        Errors.Add(error);
        if (Errors.Count >= MaxErrors)
        {
            throw new MessageLimitException(new NormalizationError(Errors[0].Code, $"Normalization stopped after {MaxErrors} errors."));
        }
    }

    // Saturating: a plausible window of any length ends at the safe range, never outside DateTime.
    private static DateTime Max(DateTime floor, long ticks) => ticks <= floor.Ticks ? floor : new DateTime(ticks, DateTimeKind.Utc);

    private static DateTime Min(DateTime ceiling, long ticks) => ticks >= ceiling.Ticks || ticks < 0 ? ceiling : new DateTime(ticks, DateTimeKind.Utc);
}
