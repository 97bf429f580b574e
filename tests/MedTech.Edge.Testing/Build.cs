using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Testing;

/// <summary>Small builders for measurement groups and templates in the tests.</summary>
public static class Build
{
    public static Measurement Measurement(string type, string time, params (string Name, string Value)[] properties) => new()
    {
        Type = type,
        OccurrenceTimeUtc = Utc(time),
        DeviceId = "device1",
        PatientId = "patient1",
        Properties = properties.Select(p => new MeasurementProperty(p.Name, p.Value)).ToList(),
    };

    public static MeasurementGroup Group(params Measurement[] measurements) => Assert.Single(MeasurementGrouper.Group(measurements));

    public static DateTime Utc(string time) =>
        DateTime.Parse(time, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal);

    public static CodeValueFhirTemplate Template(string type, PeriodInterval interval, FhirValueTemplate? value, params FhirComponentTemplate[] components) => new()
    {
        Index = 0,
        TypeName = type,
        Codes = [new FhirCode("8867-4", "http://loinc.org", "Heart rate")],
        PeriodInterval = interval,
        Value = value,
        Components = components,
    };
}
