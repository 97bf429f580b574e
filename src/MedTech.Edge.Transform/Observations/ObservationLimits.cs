namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// The largest Observation value the writer builds, checked before the value is built (a SampledData window of
/// years at 1 s would otherwise be a string of hundreds of MB): more is an <see cref="FhirErrorCodes.ObservationTooLarge"/> error.
/// </summary>
/// <param name="MaxSampledDataSlots">Slots (period steps) of one SampledData window.</param>
/// <param name="MaxValueLength">Characters of one SampledData <c>data</c> or one <c>valueString</c>.</param>
public sealed record ObservationLimits(int MaxSampledDataSlots, int MaxValueLength)
{
    /// <summary>What an array and a string can hold at most: for tools and tests that build Observations offline.</summary>
    public static readonly ObservationLimits None = new(int.MaxValue / 2, int.MaxValue / 2);
}
