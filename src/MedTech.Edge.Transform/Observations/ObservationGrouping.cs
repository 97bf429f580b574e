using System.Globalization;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;

namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// Splits a measurement group into the groups that each become one Observation, by the template's
/// <c>periodInterval</c>, with upstream's boundaries and identifier segments (all in UTC).
/// </summary>
public static class ObservationGrouping
{
    // 'Z' is a literal in upstream's segment format; the segment has seconds precision.
    private const string SegmentFormat = "yyyyMMddHHmmss'Z'";

    public static IReadOnlyList<ObservationGroup> Split(MeasurementGroup group, PeriodInterval interval)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (interval == PeriodInterval.CorrelationId)
        {
            if (string.IsNullOrEmpty(group.Key.CorrelationId))
            {
                throw new TransformException(FhirErrorCodes.CorrelationIdNotDefined,
                    $"The FHIR template for '{group.Key.Type}' groups by correlation id, and the measurements have none.");
            }

            var times = group.Measurements.Select(m => m.OccurrenceTimeUtc).ToList();
            return [Build(group, times.Min(), times.Max(), group.Key.CorrelationId, group.Measurements)];
        }

        return group.Measurements
            .GroupBy(m => PeriodStart(m.OccurrenceTimeUtc, interval))
            .Select(window =>
            {
                var end = PeriodEnd(window.Key, interval);
                return Build(group, window.Key, end, Segment(window.Key) + "." + Segment(end), window);
            })
            .ToList();
    }

    private static DateTime PeriodEnd(DateTime start, PeriodInterval interval)
    {
        try
        {
            return PeriodEndOf(start, interval);
        }
        catch (ArgumentOutOfRangeException)
        {
            // The last hour or day of year 9999: its end is past what a DateTime (and upstream) can represent.
            throw new TransformException(FhirErrorCodes.IncompatibleData,
                $"An occurrence time at the end of the calendar has a {interval} window that cannot be represented.");
        }
    }

    private static DateTime PeriodStart(DateTime time, PeriodInterval interval) => interval switch
    {
        PeriodInterval.Single => time,
        PeriodInterval.Hourly => new DateTime(time.Year, time.Month, time.Day, time.Hour, 0, 0, DateTimeKind.Utc),
        PeriodInterval.Daily => new DateTime(time.Year, time.Month, time.Day, 0, 0, 0, DateTimeKind.Utc),
        _ => throw new ArgumentOutOfRangeException(nameof(interval), interval, "Not a time period."),
    };

    private static DateTime PeriodEndOf(DateTime start, PeriodInterval interval) => interval switch
    {
        PeriodInterval.Single => start,
        PeriodInterval.Hourly => start.AddHours(1).AddTicks(-1),
        _ => start.AddDays(1).AddTicks(-1),
    };

    private static string Segment(DateTime time) => time.ToString(SegmentFormat, CultureInfo.InvariantCulture);

    private static ObservationGroup Build(MeasurementGroup group, DateTime start, DateTime end, string segment, IEnumerable<Mapping.Normalization.Measurement> data)
    {
        // Per value name, sorted by time; for two values at the same instant the first one added is kept (upstream).
        var values = new Dictionary<string, SortedDictionary<DateTime, string>>();
        foreach (var measurement in data)
        {
            foreach (var property in measurement.Properties)
            {
                if (!values.TryGetValue(property.Name, out var byTime))
                {
                    values[property.Name] = byTime = [];
                }

                byTime.TryAdd(measurement.OccurrenceTimeUtc, property.Value);
            }
        }

        return new ObservationGroup(group.Key.Type, start, end, segment, values.ToDictionary(
            v => v.Key, v => (IReadOnlyList<TimedValue>)v.Value.Select(e => new TimedValue(e.Key, e.Value)).ToList()));
    }
}
