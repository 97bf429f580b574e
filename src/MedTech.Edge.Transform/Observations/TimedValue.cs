namespace MedTech.Edge.Transform.Observations;

/// <summary>One measured value of one property at one occurrence time (UTC).</summary>
public readonly record struct TimedValue(DateTime Time, string Value);
