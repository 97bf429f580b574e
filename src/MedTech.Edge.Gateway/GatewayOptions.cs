using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Gateway;

/// <summary>The gateway's own settings (configuration section <c>Gateway</c>).</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>The MedTech device mapping (CollectionContent JSON); an invalid one stops the module at start.</summary>
    public string DeviceMappingPath { get; set; } = "devicecontent.json";

    /// <summary>How often the mapping file is checked for changes (a valid change is applied without a restart).</summary>
    public TimeSpan MappingReloadInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Inbox messages normalized per round.</summary>
    public int NormalizationBatchSize { get; set; } = 1000;

    /// <summary>How often unsent data past its time-to-live is dropped and disk space reclaimed.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>What one device message may cost and produce in Normalize (<c>Gateway:Normalization:*</c>).</summary>
    public NormalizationLimits Normalization { get; set; } = new();

    /// <summary>Which devices an authenticated device may report for besides itself (<c>Gateway:Identity:*</c>).</summary>
    public DeviceIdentityOptions Identity { get; set; } = new();

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!File.Exists(DeviceMappingPath))
        {
            errors.Add($"{SectionName}:DeviceMappingPath '{DeviceMappingPath}' does not exist.");
        }

        if (NormalizationBatchSize < 1 || MaintenanceInterval <= TimeSpan.Zero || MappingReloadInterval <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:NormalizationBatchSize, {SectionName}:MaintenanceInterval and {SectionName}:MappingReloadInterval must be positive.");
        }

        errors.AddRange(Normalization.Validate($"{SectionName}:Normalization"));
        errors.AddRange(Identity.Validate($"{SectionName}:Identity"));
        return errors;
    }
}
