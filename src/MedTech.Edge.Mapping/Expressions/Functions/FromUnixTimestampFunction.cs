using System.Globalization;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Mapping.Expressions.Functions;

/// <summary><c>fromUnixTimestamp(seconds)</c> and <c>fromUnixTimestampMs(milliseconds)</c>: a UTC date token.</summary>
internal sealed class FromUnixTimestampFunction : MedTechFunction
{
    private readonly Func<long, DateTimeOffset> convert;

    private FromUnixTimestampFunction(string name, Func<long, DateTimeOffset> convert)
        : base(name, Integer) => this.convert = convert;

    public static FromUnixTimestampFunction Seconds { get; } = new("fromUnixTimestamp", DateTimeOffset.FromUnixTimeSeconds);

    public static FromUnixTimestampFunction Milliseconds { get; } = new("fromUnixTimestampMs", DateTimeOffset.FromUnixTimeMilliseconds);

    protected override JToken Execute(JValue[] args) =>
        new JValue(convert(Convert.ToInt64(args[0].Value, CultureInfo.InvariantCulture)).UtcDateTime);
}
