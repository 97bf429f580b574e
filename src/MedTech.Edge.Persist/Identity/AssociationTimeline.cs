using System.Text.RegularExpressions;
using DateTimePrecision = Hl7.Fhir.ElementModel.Types.DateTimePrecision;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;

namespace MedTech.Edge.Persist.Identity;

/// <summary>One span of a device's association history: from <see cref="Start"/> (inclusive) to <see cref="End"/> (exclusive; null = still on). A null patient says the device was on no usable Patient then.</summary>
internal readonly record struct AssociationSpan(DateTime Start, DateTime? End, string? PatientId);

/// <summary>
/// Which Patient a device was on at a given time, from the association history the FHIR server holds (a Device's
/// versions or its DeviceUseStatements), as known when it was fetched. Immutable: a refresh makes a new one.
/// The rules (docs/patient-association.md): spans are start inclusive, end exclusive, an open end is still on; a time
/// no span covers has no patient; two spans with different patients at one time are ambiguous, never a guess.
/// </summary>
public sealed partial class AssociationTimeline
{
    private readonly IReadOnlyList<AssociationSpan> spans;

    private AssociationTimeline(IReadOnlyList<AssociationSpan> spans, DateTimeOffset fetchedAt, string? deviceVersion)
    {
        this.spans = spans;
        FetchedAt = fetchedAt;
        DeviceVersion = deviceVersion;
    }

    /// <summary>When the history was last known to be current (the writer's clock).</summary>
    public DateTimeOffset FetchedAt { get; }

    /// <summary>From a Device's history: the newest version it knows, so an unchanged Device revalidates it without a history read.</summary>
    public string? DeviceVersion { get; }

    internal IReadOnlyList<AssociationSpan> Spans => spans;

    /// <summary>
    /// From a Device's versions (a deletion is a null version at its time). Each version's patient holds from its
    /// <c>meta.lastUpdated</c> to the next version's; a version without a <c>Patient/{id}</c> reference, or marked
    /// entered-in-error, and a deletion, hold no patient. Versions without a time cannot be placed and are left out.
    /// </summary>
    public static AssociationTimeline FromDeviceHistory(IEnumerable<(Device? Version, DateTimeOffset? Time)> versions, DateTimeOffset fetchedAt)
    {
        ArgumentNullException.ThrowIfNull(versions);
        // A history lists the newest version first; two versions with one lastUpdated (two updates within the server's
        // clock resolution) keep that order, so the newer one is the one still on.
        var ordered = versions.Select((v, listed) => (v.Version, v.Time, listed)).Where(v => v.Time is not null)
            .OrderBy(v => v.Time!.Value).ThenByDescending(v => v.listed).Select(v => (v.Version, v.Time)).ToList();
        var spans = new List<AssociationSpan>();
        for (var i = 0; i < ordered.Count; i++)
        {
            var (device, time) = ordered[i];
            var patient = device is null || device.Status == Device.FHIRDeviceStatus.EnteredInError ? null : PatientIdOf(device.Patient?.Reference);
            spans.Add(new AssociationSpan(time!.Value.UtcDateTime, i + 1 < ordered.Count ? ordered[i + 1].Time!.Value.UtcDateTime : null, patient));
        }

        return new AssociationTimeline(spans, fetchedAt, ordered.Count > 0 ? ordered[^1].Version?.Meta?.VersionId : null);
    }

    /// <summary>From a Device's DeviceUseStatements (all of them; the ones that do not count are left out here).</summary>
    public static AssociationTimeline FromStatements(IEnumerable<DeviceUseStatement> statements, DateTimeOffset fetchedAt)
    {
        ArgumentNullException.ThrowIfNull(statements);
        // A statement listed twice (paged results that shifted) counts once.
        var byId = new Dictionary<string, DeviceUseStatement>(StringComparer.Ordinal);
        var anonymous = new List<DeviceUseStatement>();
        foreach (var statement in statements)
        {
            if (statement.Id is { } id)
            {
                byId[id] = statement;
            }
            else
            {
                anonymous.Add(statement);
            }
        }

        return new AssociationTimeline(byId.Values.Concat(anonymous).SelectMany(SpanOf).ToList(), fetchedAt, null);
    }

    /// <summary>The same history, known to be current at <paramref name="at"/>.</summary>
    public AssociationTimeline Revalidated(DateTimeOffset at) => new(spans, at, DeviceVersion);

    /// <summary>The Patient id at <paramref name="time"/> (UTC), or the reason code why there is none.</summary>
    public (string? PatientId, string? Code) PatientAt(DateTime time)
    {
        string? found = null;
        var covered = false;
        foreach (var span in spans)
        {
            if (span.Start <= time && (span.End is null || time < span.End))
            {
                if (covered && !string.Equals(found, span.PatientId, StringComparison.Ordinal))
                {
                    return (null, FhirErrorCodes.AmbiguousPatientAssociation);
                }

                covered = true;
                found = span.PatientId;
            }
        }

        return found is null ? (null, FhirErrorCodes.NoPatientAssociation) : (found, null);
    }

    /// <summary>
    /// A statement's span. Entered-in-error (recorded by mistake) and intended (not yet on) statements do not count;
    /// active, completed, stopped and on-hold do (on-hold: the device is still the patient's). A statement needs a
    /// <c>timingPeriod</c> with a start; a timingDateTime or timingTiming does not say from when to when. A subject
    /// that is not <c>Patient/{id}</c> still counts, as a span without a patient, so it is never silently skipped.
    /// </summary>
    private static IEnumerable<AssociationSpan> SpanOf(DeviceUseStatement statement)
    {
        if (statement.Status is DeviceUseStatement.DeviceUseStatementStatus.EnteredInError or DeviceUseStatement.DeviceUseStatementStatus.Intended
            || statement.Timing is not Period period || Instant(period.StartElement, isEnd: false) is not { } start)
        {
            yield break;
        }

        var end = period.EndElement is null ? null : Instant(period.EndElement, isEnd: true);
        if (period.EndElement is not null && (end is null || end < start))
        {
            // An end that cannot be read or lies before the start: the statement says nothing usable.
            yield break;
        }

        yield return new AssociationSpan(start, end, PatientIdOf(statement.Subject?.Reference));
    }

    /// <summary>
    /// A start is the first instant of its value; an end with a time is that instant (exclusive), a date-only end
    /// covers its whole day (month, year), as FHIR reads a period's end. Values without an offset are UTC.
    /// </summary>
    private static DateTime? Instant(FhirDateTime? value, bool isEnd)
    {
        if (value?.Value is null || !value.TryToSystemDateTime(out var parsed) || parsed is null)
        {
            return null;
        }

        try
        {
            var range = parsed.GetRange(TimeSpan.Zero);
            // A range without an end is the last day (month, year) of 9999: as an end, no end at all.
            return isEnd && parsed.Precision < DateTimePrecision.Hour ? range.End?.UtcDateTime ?? DateTime.MaxValue : range.Start?.UtcDateTime;
        }
        catch (ArgumentOutOfRangeException)
        {
            // Past what a DateTime holds: as an end, no end at all; as a start, unusable.
            return isEnd ? DateTime.MaxValue : null;
        }
    }

    /// <summary>The Patient id of a relative <c>Patient/{id}</c> reference (upstream's accepted characters), else null.</summary>
    internal static string? PatientIdOf(string? reference) =>
        reference is not null && PatientReference().Match(reference) is { Success: true } match ? match.Groups[1].Value : null;

    [GeneratedRegex(@"^Patient/([A-Za-z0-9_.\-~#]+)$")]
    private static partial Regex PatientReference();
}
