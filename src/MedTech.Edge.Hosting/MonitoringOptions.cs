namespace MedTech.Edge.Hosting;

/// <summary>The metrics and health endpoint (configuration section <c>Monitoring</c>).</summary>
public sealed class MonitoringOptions
{
    public const string SectionName = "Monitoring";

    /// <summary>Port of <c>/metrics</c> and <c>/health</c> (9600, where IoT Edge's metrics-collector scrapes); 0 turns them off.</summary>
    public int Port { get; set; } = 9600;

    /// <summary>Where the endpoint listens; <c>+</c> is every interface (metrics-collector scrapes over the module network).</summary>
    public string BindAddress { get; set; } = "+";

    public IReadOnlyList<string> Validate() =>
        Port is < 0 or > 65535 ? [$"{SectionName}:Port must be between 0 and 65535."] : [];
}
