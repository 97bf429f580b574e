namespace MedTech.Edge.Fhir.Observations;

/// <summary>One measured value of one property at one occurrence time (UTC).</summary>
public readonly record struct TimedValue(DateTime Time, string Value);
