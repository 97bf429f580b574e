using System.Globalization;
using System.Text.RegularExpressions;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform.Templates;

namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// Builds <c>value[x]</c> from a value template and the group's values, and merges it into an existing value.
/// Quantity and String hold one value: with several in one group the latest (by occurrence time) wins, which is
/// what upstream ends up with when the same values arrive in separate batches, so the result does not depend on
/// how messages were batched (upstream fails the whole group instead).
/// </summary>
internal static partial class FhirValues
{
    public static DataType Create(FhirValueTemplate template, IReadOnlyList<TimedValue> values, ObservationGroup group, ObservationLimits limits) => template switch
    {
        SampledDataValueTemplate sampled => new SampledData
        {
            Origin = new Quantity { Value = 0, Unit = sampled.Unit },
            Period = sampled.DefaultPeriodMs,
            Dimensions = 1,
            Data = SampledDataCodec.Encode(CheckedSamples(values, template), group.Start, group.End, sampled.DefaultPeriodMs, limits),
        },
        QuantityValueTemplate quantity => new Quantity
        {
            Value = ParseQuantity(values[^1].Value, template),
            Unit = quantity.Unit,
            System = quantity.System,
            Code = quantity.Code,
        },
        StringValueTemplate => new FhirString(values[^1].Value.Length <= limits.MaxValueLength ? values[^1].Value
            : throw new TransformException(FhirErrorCodes.ObservationTooLarge, $"The value of '{template.ValueName}' has {values[^1].Value.Length} characters, more than the limit of {limits.MaxValueLength} (Persistence options).")),
        CodeableConceptValueTemplate concept => new CodeableConcept
        {
            Text = concept.Text,
            Coding = concept.Codes.Select(c => new Coding(c.System, c.Code, c.Display)).ToList(),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(template), template, "Unknown value template."),
    };

    /// <summary>
    /// The existing value merged with the group's. SampledData merges slot by slot over both periods (a new value
    /// wins an exact tie); the other types are replaced, as upstream does.
    /// </summary>
    public static DataType Merge(DataType existing, (DateTime Start, DateTime End) existingPeriod, FhirValueTemplate template, IReadOnlyList<TimedValue> values, ObservationGroup group, ObservationLimits limits)
    {
        var expected = template switch
        {
            SampledDataValueTemplate => typeof(SampledData),
            QuantityValueTemplate => typeof(Quantity),
            StringValueTemplate => typeof(FhirString),
            _ => typeof(CodeableConcept),
        };
        if (existing.GetType() != expected)
        {
            throw new TransformException(FhirErrorCodes.NotSupported,
                $"The stored Observation has a {existing.TypeName} value for '{template.ValueName}', and the template makes a {template.GetType().Name.Replace("ValueTemplate", "", StringComparison.Ordinal)}.");
        }

        if (existing is not SampledData stored || template is not SampledDataValueTemplate sampled)
        {
            return Create(template, values, group, limits);
        }

        if (stored.Dimensions is > 1)
        {
            throw new TransformException(FhirErrorCodes.NotSupported, $"The stored SampledData for '{template.ValueName}' has {stored.Dimensions} dimensions; only 1 can be merged.");
        }

        var (oldStart, oldEnd) = existingPeriod;
        // By time, a new value replacing a stored one at the same instant; Encode orders them and keeps each slot's latest.
        var merged = new Dictionary<DateTime, string>();
        foreach (var value in SampledDataCodec.Decode(stored.Data, oldStart, sampled.DefaultPeriodMs))
        {
            merged[value.Time] = value.Value;
        }

        foreach (var value in CheckedSamples(values, template))
        {
            merged[value.Time] = value.Value;
        }

        var start = oldStart < group.Start ? oldStart : group.Start;
        var end = oldEnd > group.End ? oldEnd : group.End;
        var result = (SampledData)stored.DeepCopy();
        result.Period = sampled.DefaultPeriodMs;
        result.Origin = new Quantity { Value = 0, Unit = sampled.Unit };
        result.Data = SampledDataCodec.Encode(merged.Select(m => new TimedValue(m.Key, m.Value)), start, end, sampled.DefaultPeriodMs, limits);
        return result;
    }

    private static decimal ParseQuantity(string value, FhirValueTemplate template) =>
        decimal.TryParse(value, NumberStyles.Number | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new TransformException(FhirErrorCodes.InvalidQuantityFhirValue, $"The value of '{template.ValueName}' is not a number, so it cannot be a Quantity.");

    // SampledData tokens are FHIR decimals; upstream copies any string and the FHIR server then rejects the Observation.
    private static IReadOnlyList<TimedValue> CheckedSamples(IReadOnlyList<TimedValue> values, FhirValueTemplate template) =>
        values.All(v => FhirDecimal().IsMatch(v.Value))
            ? values
            : throw new TransformException(FhirErrorCodes.InvalidSampledDataFhirValue, $"A value of '{template.ValueName}' is not a decimal number, so it cannot be SampledData.");

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")]
    private static partial Regex FhirDecimal();
}
