using System.Globalization;

namespace MedTech.Edge.Gateway.Tests;

/// <summary>Numbered readings and the mapping that reads them, so a test can check which ones reached the hub.</summary>
internal static class SeqMessages
{
    public const string Mapping = """
        {"templateType": "CollectionContent", "template": [{"templateType": "CalculatedContent", "template": {
          "typeName": "seq", "typeMatchExpression": "$..[?(@seq)]", "deviceIdExpression": "$.matchedToken.device",
          "timestampExpression": "$.matchedToken.time",
          "values": [{"valueName": "seq", "valueExpression": "$.matchedToken.seq", "required": true}]}}]}
        """;

    /// <summary>Each reading at its own time: readings of one device at one time are one reading (the latest wins).</summary>
    public static string Payload(string device, int seq)
    {
        var time = new DateTime(2026, 11, 24, 8, 0, 0, DateTimeKind.Utc).AddSeconds(seq).ToString("o", CultureInfo.InvariantCulture);
        return $"{{\"device\":\"{device}\",\"time\":\"{time}\",\"seq\":{seq}}}";
    }

    public static int SeqOf(MedTech.Edge.Mapping.Normalization.Measurement measurement) =>
        int.Parse(measurement.Properties.Single().Value, CultureInfo.InvariantCulture);
}
