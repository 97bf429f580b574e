namespace MedTech.Edge.Transform.Templates;

/// <summary>
/// How a FHIR template splits a measurement group into Observations (<c>periodInterval</c>): one per
/// occurrence time, per UTC hour, per UTC day, or per correlation id. The numbers are MedTech's.
/// </summary>
public enum PeriodInterval
{
#pragma warning disable CA1720 // MedTech's name, which mapping files use.
    Single = 0,
#pragma warning restore CA1720
    Hourly = 60,
    Daily = 1440,
    CorrelationId = -1,
}
