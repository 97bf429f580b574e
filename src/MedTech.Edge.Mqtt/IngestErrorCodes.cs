namespace MedTech.Edge.Mqtt;

/// <summary>Dead-letter reason codes of the ingest stage (shared names across the pipeline).</summary>
public static class IngestErrorCodes
{
    /// <summary>
    /// A message over <see cref="MqttIngestOptions.MaxMessageBytes"/> from an external broker: the broker already took it
    /// from the device, so it is kept as a dead letter (size, SHA-256, first bytes; not the payload) and acknowledged.
    /// </summary>
    public const string DeviceMessageTooLarge = "DeviceMessageTooLarge";
}
