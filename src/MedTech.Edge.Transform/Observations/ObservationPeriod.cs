using System.Globalization;
using Hl7.Fhir.Model;

namespace MedTech.Edge.Transform.Observations;

/// <summary><c>effectivePeriod</c> in upstream's .NET round-trip format, e.g. <c>2019-02-01T22:59:59.9999999Z</c>.</summary>
public static class ObservationPeriod
{
    public static Period Create(DateTime start, DateTime end) => new() { Start = Text(start), End = Text(end) };

    /// <summary>The stored period; an <c>effectiveDateTime</c> counts as a period from and to that time, as upstream reads it.</summary>
    public static (DateTime Start, DateTime End) Read(DataType? effective) => effective switch
    {
        Period period when period.Start is not null => (Parse(period.Start), Parse(period.End ?? period.Start)),
        FhirDateTime time when time.Value is not null => (Parse(time.Value), Parse(time.Value)),
        _ => throw new TransformException(FhirErrorCodes.NotSupported, "The stored Observation has no effective time to merge into."),
    };

    private static string Text(DateTime time) => time.ToString("o", CultureInfo.InvariantCulture);

    private static DateTime Parse(string text) =>
        DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
}
