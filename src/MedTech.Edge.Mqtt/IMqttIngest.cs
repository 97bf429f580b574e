using MedTech.Edge.Hosting;

namespace MedTech.Edge.Mqtt;

/// <summary>Where MQTT device messages come from: the embedded broker, or a subscription to an external broker (Mosquitto).</summary>
public interface IMqttIngest : IIngestSource;
