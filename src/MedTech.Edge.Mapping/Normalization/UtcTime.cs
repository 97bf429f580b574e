using System.Globalization;

namespace MedTech.Edge.Mapping.Normalization;

/// <summary>How measurement times are written: ISO 8601, UTC, <c>Z</c>, fraction only as long as needed.</summary>
public static class UtcTime
{
    public const string Format = "yyyy-MM-ddTHH:mm:ss.FFFFFFFZ";

    public static string ToText(DateTime utc) => utc.ToString(Format, CultureInfo.InvariantCulture);
}
