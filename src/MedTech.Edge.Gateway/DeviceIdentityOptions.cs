namespace MedTech.Edge.Gateway;

/// <summary>
/// Which devices an authenticated device may report for besides itself (section <c>Gateway:Identity</c>): a central
/// station or a device hub that relays the readings of several monitors. Every other authenticated device reports only
/// under its own id. Applies to messages from devices that logged in (password or certificate) and, in external-broker
/// mode, to the device id of the topic.
/// </summary>
public sealed class DeviceIdentityOptions
{
    /// <summary>The most device ids one relay may list; a list that long is a configuration mistake, not a ward.</summary>
    public const int MaxReportsForPerDevice = 10_000;

    /// <summary>The longest device id accepted in the map (MQTT client ids are short; LiteDB and FHIR ids are bounded too).</summary>
    public const int MaxDeviceIdLength = 256;

    /// <summary>
    /// Authenticated device id → the device ids it may report for, e.g. <c>Gateway:Identity:ReportsFor:central-01:0</c>
    /// = <c>monitor-01</c> (environment: <c>Gateway__Identity__ReportsFor__central-01__0</c>). Ids compare exactly
    /// (ordinal); a configuration key is case-insensitive, so two relays whose ids differ only in case cannot both be listed.
    /// </summary>
    public Dictionary<string, List<string>> ReportsFor { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Every problem, naming its key but no device id (this text is logged); empty when usable.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        var relay = 0;
        foreach (var (device, reported) in ReportsFor)
        {
            relay++;
            if (!Usable(device))
            {
                errors.Add($"{section}:ReportsFor: relay {relay} has an empty id, one with control characters, or one over {MaxDeviceIdLength} characters.");
            }

            if (reported is null || reported.Count is 0 or > MaxReportsForPerDevice)
            {
                errors.Add($"{section}:ReportsFor: relay {relay} must list between 1 and {MaxReportsForPerDevice} device ids.");
            }
            else if (reported.Any(id => !Usable(id)))
            {
                errors.Add($"{section}:ReportsFor: relay {relay} lists an empty device id, one with control characters, or one over {MaxDeviceIdLength} characters.");
            }
        }

        return errors;
    }

    private static bool Usable(string? id) => !string.IsNullOrWhiteSpace(id) && id.Length <= MaxDeviceIdLength && !id.Any(char.IsControl);
}
