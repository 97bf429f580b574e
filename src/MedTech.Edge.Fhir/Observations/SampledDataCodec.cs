namespace MedTech.Edge.Fhir.Observations;

/// <summary>
/// SampledData <c>data</c> as upstream writes it: one token per period slot from start to end, the latest value
/// in each slot, <c>E</c> for an empty slot, single spaces between tokens.
/// </summary>
public static class SampledDataCodec
{
    public const string Empty = "E";

    /// <summary>Slot k spans [start + k·P, start + (k+1)·P); slots are made while their start is not after <paramref name="end"/>.</summary>
    public static string Encode(IEnumerable<TimedValue> values, DateTime start, DateTime end, decimal periodMs)
    {
        ArgumentNullException.ThrowIfNull(values);
        var periodTicks = PeriodTicks(periodMs);
        var slots = new string[(int)Math.Floor((end - start).Ticks / periodTicks) + 1];
        foreach (var value in values.OrderBy(v => v.Time))
        {
            if (value.Time >= start && value.Time <= end)
            {
                slots[(int)Math.Floor((value.Time - start).Ticks / periodTicks)] = value.Value;
            }
        }

        return string.Join(' ', slots.Select(s => s ?? Empty));
    }

    /// <summary>The values of existing data, each placed at its slot's start (upstream re-reads with the template's period).</summary>
    public static IEnumerable<TimedValue> Decode(string? data, DateTime start, decimal periodMs)
    {
        var periodTicks = PeriodTicks(periodMs);
        var tokens = (data ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (var k = 0; k < tokens.Length; k++)
        {
            if (tokens[k] != Empty)
            {
                yield return new TimedValue(start.AddTicks((long)(k * periodTicks)), tokens[k]);
            }
        }
    }

    private static decimal PeriodTicks(decimal periodMs) =>
        periodMs > 0 ? periodMs * TimeSpan.TicksPerMillisecond : throw new ArgumentOutOfRangeException(nameof(periodMs), "The period must be positive.");
}
