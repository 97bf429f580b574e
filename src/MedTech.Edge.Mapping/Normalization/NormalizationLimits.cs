using MedTech.Edge.Mapping.Expressions;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// How much one message may cost and produce. Upstream (MedTech, iomt-fhir) has none of these limits: an
/// expression runs as long as it runs, any timestamp and any string length pass. A message over a limit fails
/// with a reason code (the gateway dead-letters it) and the next message is normalized as usual.
/// </summary>
public sealed class NormalizationLimits
{
    /// <summary>
    /// Processor time one message may spend in its mapping's expressions (checked before every template and
    /// every match; elapsed time where the platform does not say, i.e. not Linux), else
    /// <c>TemplateExpressionException</c>. A bedside message takes microseconds and 50,000 readings a few hundred
    /// milliseconds, so 1 s only stops runaway work, while one bad message still cannot hold up every device on the
    /// gateway for much longer than that.
    /// </summary>
    public TimeSpan MaxTimePerMessage { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The time limit of one JSONPath <c>=~</c> regular-expression match (elapsed time, as .NET measures it),
    /// else <c>TemplateExpressionException</c>. A linear pattern checks a
    /// 256 KiB value in about a millisecond; 100 ms leaves room for that and ends catastrophic backtracking early.
    /// </summary>
    public TimeSpan RegexMatchTimeout { get; set; } = EvaluationBudget.DefaultRegexMatchTimeout;

    /// <summary>
    /// How long before its receipt a measurement may have occurred, else <c>IncompatibleDataException</c>.
    /// Ten years keeps every real backlog (devices that upload stored readings days or weeks later, a gateway
    /// buffer replayed after an outage, dead letters replayed after a mapping fix: they keep their receipt time)
    /// and refuses the clocks that were never set: 1970 (Unix zero), 2000-01-01 and year 1 (a zero DateTime).
    /// </summary>
    public TimeSpan PlausiblePast { get; set; } = TimeSpan.FromDays(3653);

    /// <summary>
    /// How long after its receipt a measurement may have occurred, else <c>IncompatibleDataException</c>.
    /// One day covers device clock drift and a local time sent as UTC from any time zone (at most +14 h), and
    /// refuses readings that would be charted as happening tomorrow or later.
    /// </summary>
    public TimeSpan PlausibleFuture { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// The most measurements one message may produce, else <c>IncompatibleDataException</c>. 50,000 holds a
    /// 12-lead waveform at 1 kHz for four seconds in one message, one measurement per sample; a 256 KiB message
    /// (the MQTT default) of the smallest possible readings yields about 30,000.
    /// </summary>
    public int MaxMeasurementsPerMessage { get; set; } = 50_000;

    /// <summary>
    /// The longest device, patient, encounter or correlation id, in UTF-16 characters, else
    /// <c>IncompatibleDataException</c>. Real ids (serial numbers, MRNs, GUIDs, UDI strings) are under 100;
    /// 512 leaves room while keeping the Observation identifier, which joins patient and device id, and the
    /// FHIR search URL that looks it up well inside common 8 KB URL limits.
    /// </summary>
    public int MaxIdentifierLength { get; set; } = 512;

    /// <summary>
    /// The longest extracted value, in UTF-16 characters, else <c>IncompatibleDataException</c>. 32,768 holds
    /// several seconds of one waveform lead written out as one string (about 5,000 samples) and keeps a measurement
    /// far below the 1 MB hub message even when every character has to be escaped.
    /// </summary>
    public int MaxValueLength { get; set; } = 32_768;

    /// <summary>Every problem, each naming its key under <paramref name="section"/>; empty when usable.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        if (MaxTimePerMessage <= TimeSpan.Zero || MaxTimePerMessage > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{section}:MaxTimePerMessage must be more than 0 and at most 10 minutes.");
        }

        if (RegexMatchTimeout <= TimeSpan.Zero || RegexMatchTimeout > MaxTimePerMessage)
        {
            errors.Add($"{section}:RegexMatchTimeout must be more than 0 and at most {section}:MaxTimePerMessage.");
        }

        if (PlausiblePast < TimeSpan.Zero || PlausibleFuture < TimeSpan.Zero)
        {
            errors.Add($"{section}:PlausiblePast and {section}:PlausibleFuture must not be negative.");
        }

        if (MaxMeasurementsPerMessage < 1 || MaxIdentifierLength < 1 || MaxValueLength < 1)
        {
            errors.Add($"{section}:MaxMeasurementsPerMessage, {section}:MaxIdentifierLength and {section}:MaxValueLength must be positive.");
        }

        return errors;
    }
}
