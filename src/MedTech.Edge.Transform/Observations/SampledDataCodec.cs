namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// SampledData <c>data</c> as upstream writes it: one token per period slot from start to end, the latest value
/// in each slot, <c>E</c> for an empty slot, single spaces between tokens. An hourly window at one slot per
/// second is 3,600 mostly empty slots, merged on every batch, so both directions skip runs of <c>E</c> in bulk.
/// </summary>
public static class SampledDataCodec
{
    public const string Empty = "E";

    /// <summary>
    /// Slot k spans [start + k·P, start + (k+1)·P); slots are made while their start is not after <paramref name="end"/>.
    /// The slot count and the length are checked against <paramref name="limits"/> before anything that size is allocated.
    /// </summary>
    /// <exception cref="TransformException"><see cref="FhirErrorCodes.ObservationTooLarge"/>: over the limits.</exception>
    public static string Encode(IEnumerable<TimedValue> values, DateTime start, DateTime end, decimal periodMs, ObservationLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        limits ??= ObservationLimits.None;
        var periodTicks = PeriodTicks(periodMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(end, start);
        // In long arithmetic: a window of centuries at 1 ms is more slots than an int holds.
        var count = SlotOf((end - start).Ticks, periodTicks) + 1;
        if (count > limits.MaxSampledDataSlots)
        {
            throw TooLarge($"{count} SampledData slots", limits.MaxSampledDataSlots);
        }

        var slots = new string?[count];
        var length = (long)slots.Length * 2 - 1;
        foreach (var value in values.OrderBy(v => v.Time))
        {
            if (value.Time >= start && value.Time <= end)
            {
                ref var slot = ref slots[SlotOf((value.Time - start).Ticks, periodTicks)];
                length += value.Value.Length - (slot?.Length ?? 1);
                slot = value.Value;
            }
        }

        if (length > limits.MaxValueLength)
        {
            throw TooLarge($"SampledData data of {length} characters", limits.MaxValueLength);
        }

        var empties = EmptyRun(slots.Length);
        return string.Create((int)length, slots, (data, slots) =>
        {
            var position = 0;
            for (var k = 0; k < slots.Length;)
            {
                var separator = k > 0 ? 1 : 0;
                if (slots[k] is { } token)
                {
                    data[position] = ' ';
                    position += separator;
                    token.CopyTo(data[position..]);
                    position += token.Length;
                    k++;
                    continue;
                }

                // A run of empty slots is one copy from " E E E ...".
                var run = k;
                while (run < slots.Length && slots[run] is null)
                {
                    run++;
                }

                var chunk = empties.AsSpan(1 - separator, (2 * (run - k)) - 1 + separator);
                chunk.CopyTo(data[position..]);
                position += chunk.Length;
                k = run;
            }
        });
    }

    private static string emptyRun = "";

    /// <summary>" E E E …" with at least <paramref name="slots"/> tokens, built once per size and then reused.</summary>
    private static string EmptyRun(int slots)
    {
        var current = emptyRun;
        if (current.Length < 2 * slots)
        {
            current = emptyRun = string.Concat(Enumerable.Repeat(" E", slots));
        }

        return current;
    }

    /// <summary>The values of existing data, each placed at its slot's start (upstream re-reads with the template's period).</summary>
    public static IReadOnlyList<TimedValue> Decode(string? data, DateTime start, decimal periodMs)
    {
        var periodTicks = PeriodTicks(periodMs);
        var text = (data ?? "").AsSpan();
        var values = new List<TimedValue>();
        var slot = 0;
        for (var position = 0; position < text.Length;)
        {
            // Every space passed moves to the next slot; a run of "E E E " holds no value.
            var skip = text[position..].IndexOfAnyExcept('E', ' ');
            if (skip < 0)
            {
                break;
            }

            slot += text.Slice(position, skip).Count(' ');
            position += skip;
            var length = text[position..].IndexOf(' ');
            length = length < 0 ? text.Length - position : length;
            values.Add(new TimedValue(start.AddTicks((long)(slot * periodTicks)), text.Slice(position, length).ToString()));
            position += length;
        }

        return values;
    }

    /// <summary>floor(ticks / period): whole-tick periods (any period with at most 4 decimals in ms) in integer arithmetic.</summary>
    private static long SlotOf(long ticks, decimal periodTicks) => periodTicks == decimal.Truncate(periodTicks)
        ? ticks / (long)periodTicks
        : (long)Math.Floor(ticks / periodTicks);

    private static TransformException TooLarge(string what, int limit) =>
        new(FhirErrorCodes.ObservationTooLarge, $"The Observation would hold {what}, more than the limit of {limit} (Persistence options).");

    private static decimal PeriodTicks(decimal periodMs) =>
        periodMs > 0 ? periodMs * TimeSpan.TicksPerMillisecond : throw new ArgumentOutOfRangeException(nameof(periodMs), "The period must be positive.");
}
