namespace MedTech.Edge.Fhir.Identity;

/// <summary>Identity resolution settings (configuration section <c>ResourceIdentity</c>, MedTech's names).</summary>
public sealed class ResourceIdentityOptions
{
    public const string SectionName = "ResourceIdentity";

    // MedTech's class names are accepted too, so an exported MedTech configuration works unchanged.
    private static readonly Dictionary<string, ResourceIdentityMode> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Lookup"] = ResourceIdentityMode.Lookup,
        ["Create"] = ResourceIdentityMode.Create,
        ["LookupWithEncounter"] = ResourceIdentityMode.LookupWithEncounter,
        ["R4DeviceAndPatientLookupIdentityService"] = ResourceIdentityMode.Lookup,
        ["R4DeviceAndPatientCreateIdentityService"] = ResourceIdentityMode.Create,
        ["R4DeviceAndPatientWithEncounterLookupIdentityService"] = ResourceIdentityMode.LookupWithEncounter,
    };

    /// <summary><c>Lookup</c> (default), <c>Create</c> or <c>LookupWithEncounter</c>.</summary>
    public string ResourceIdentityServiceType { get; set; } = "Lookup";

    /// <summary>The identifier system Devices are searched (and created) with; none by default.</summary>
    public string? DefaultDeviceIdentifierSystem { get; set; }

    /// <summary>Resolved identities kept in memory, so steady traffic costs no lookups.</summary>
    public int CacheSize { get; set; } = 5000;

    /// <summary>Sliding expiry of a cached identity; a Device re-linked to another Patient is seen after this at most.</summary>
    public TimeSpan CacheExpiry { get; set; } = TimeSpan.FromHours(2);

    public ResourceIdentityMode Mode => Names.TryGetValue(ResourceIdentityServiceType, out var mode)
        ? mode
        : throw new InvalidOperationException(Validate()[0]);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Names.ContainsKey(ResourceIdentityServiceType ?? ""))
        {
            errors.Add($"{SectionName}:ResourceIdentityServiceType '{ResourceIdentityServiceType}' is not one of Lookup, Create, LookupWithEncounter.");
        }

        if (CacheSize < 1 || CacheExpiry <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:CacheSize and {SectionName}:CacheExpiry must be positive.");
        }

        return errors;
    }
}
