namespace MedTech.Edge.Mqtt;

/// <summary>Where device messages come from: the embedded broker, or a subscription to an external broker (Mosquitto).</summary>
public interface IMqttIngest
{
    Task StartAsync();

    /// <summary>Stops taking messages; what was not yet committed is not acknowledged, so the sender sends it again.</summary>
    Task StopAsync();
}
