using System.Globalization;
using System.Numerics;
using MedTech.Edge.Mapping.Normalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions.Functions;

/// <summary>
/// <c>fromUnixTimestamp(seconds)</c> and <c>fromUnixTimestampMs(milliseconds)</c>: a UTC date token. A number
/// outside years 1 to 9999 (or beyond 64 bits) is incompatible data, never an overflow out of the normalizer.
/// </summary>
internal sealed class FromUnixTimestampFunction : MedTechFunction
{
    private readonly Func<long, DateTimeOffset> convert;

    private FromUnixTimestampFunction(string name, Func<long, DateTimeOffset> convert)
        : base(name, Integer) => this.convert = convert;

    public static FromUnixTimestampFunction Seconds { get; } = new("fromUnixTimestamp", DateTimeOffset.FromUnixTimeSeconds);

    public static FromUnixTimestampFunction Milliseconds { get; } = new("fromUnixTimestampMs", DateTimeOffset.FromUnixTimeMilliseconds);

    protected override JToken Execute(JValue[] args)
    {
        try
        {
            // Newtonsoft gives integers beyond 64 bits as BigInteger, which Convert cannot narrow.
            var value = args[0].Value is BigInteger ? throw new OverflowException() : Convert.ToInt64(args[0].Value, CultureInfo.InvariantCulture);
            return new JValue(convert(value).UtcDateTime);
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or OverflowException)
        {
            // Without the number: a time can identify a patient's visit.
            throw new IncompatibleDataException($"{Name}: the number is outside the range of dates (years 1 to 9999).", ex);
        }
    }
}
