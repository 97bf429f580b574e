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
        var slots = new string?[(int)Math.Floor((end - start).Ticks / periodTicks) + 1];
        var length = 2 * slots.Length;
        foreach (var value in values.OrderBy(v => v.Time))
        {
            if (value.Time >= start && value.Time <= end)
            {
                slots[(int)Math.Floor((value.Time - start).Ticks / periodTicks)] = value.Value;
                length += value.Value.Length;
            }
        }

        // Hourly and daily windows have thousands of slots: one buffer, no string per empty slot.
        var data = new System.Text.StringBuilder(length);
        for (var k = 0; k < slots.Length; k++)
        {
            data.Append(k == 0 ? "" : " ").Append(slots[k] ?? Empty);
        }

        return data.ToString();
    }

    /// <summary>The values of existing data, each placed at its slot's start (upstream re-reads with the template's period).</summary>
    public static IEnumerable<TimedValue> Decode(string? data, DateTime start, decimal periodMs)
    {
        var periodTicks = PeriodTicks(periodMs);
        var text = data ?? "";
        var k = 0;
        for (var position = 0; position < text.Length;)
        {
            var next = text.IndexOf(' ', position);
            var token = text.AsMemory(position, (next < 0 ? text.Length : next) - position);
            if (token.Length > 0)
            {
                if (!token.Span.SequenceEqual(Empty))
                {
                    yield return new TimedValue(start.AddTicks((long)(k * periodTicks)), token.ToString());
                }

                k++;
            }

            position = next < 0 ? text.Length : next + 1;
        }
    }

    private static decimal PeriodTicks(decimal periodMs) =>
        periodMs > 0 ? periodMs * TimeSpan.TicksPerMillisecond : throw new ArgumentOutOfRangeException(nameof(periodMs), "The period must be positive.");
}
