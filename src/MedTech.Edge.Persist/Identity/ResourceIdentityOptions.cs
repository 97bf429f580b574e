namespace MedTech.Edge.Persist.Identity;

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

    // By name only: Enum.TryParse would also take "1" and "CurrentDevice,DeviceUseStatement".
    private static readonly Dictionary<string, PatientAssociation> Associations =
        Enum.GetValues<PatientAssociation>().ToDictionary(a => a.ToString(), a => a, StringComparer.OrdinalIgnoreCase);

    /// <summary><c>Lookup</c> (default), <c>Create</c> or <c>LookupWithEncounter</c>.</summary>
    public string ResourceIdentityServiceType { get; set; } = "Lookup";

    /// <summary>The identifier system Devices are searched (and created) with; none by default.</summary>
    public string? DefaultDeviceIdentifierSystem { get; set; }

    /// <summary>
    /// Create mode: the identifier system Patients are searched and created with (<c>system|value</c>); none by default,
    /// as in MedTech, which matches a patient id under any system.
    /// </summary>
    public string? DefaultPatientIdentifierSystem { get; set; }

    /// <summary>
    /// Lookup modes: where the Patient of a measurement comes from. <c>CurrentDevice</c> (default, MedTech's behaviour:
    /// the Device's patient now), <c>DeviceHistory</c> or <c>DeviceUseStatement</c> (the patient the device was on
    /// when the measurement was taken; see docs/patient-association.md). Create mode ignores it.
    /// </summary>
    public string Association { get; set; } = nameof(PatientAssociation.CurrentDevice);

    /// <summary>
    /// The longest a cached identity or association history is used without asking the server again: a Device
    /// re-linked to another Patient is seen within this under steady traffic. Revalidating costs one batch request
    /// per writer batch that has stale entries, whatever their number.
    /// </summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Resolved identities (and association histories) kept in memory, so steady traffic costs almost no lookups.</summary>
    public int CacheSize { get; set; } = 5000;

    /// <summary>
    /// Absolute expiry of a cached entry. Within it an entry is only revalidated (see <see cref="MaxStaleness"/>);
    /// after it, a DeviceUseStatement history is read again in full, which is when a deleted statement is seen.
    /// </summary>
    public TimeSpan CacheExpiry { get; set; } = TimeSpan.FromHours(2);

    public ResourceIdentityMode Mode => Names.TryGetValue(ResourceIdentityServiceType, out var mode)
        ? mode
        : throw new InvalidOperationException(Validate()[0]);

    public PatientAssociation PatientAssociation => Associations.TryGetValue(Association ?? "", out var association)
        ? association
        : throw new InvalidOperationException(Validate()[0]);

    /// <summary>Every problem, each naming its configuration key; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Names.ContainsKey(ResourceIdentityServiceType ?? ""))
        {
            errors.Add($"{SectionName}:ResourceIdentityServiceType '{ResourceIdentityServiceType}' is not one of Lookup, Create, LookupWithEncounter.");
        }

        if (!Associations.ContainsKey(Association ?? ""))
        {
            errors.Add($"{SectionName}:Association '{Association}' is not one of CurrentDevice, DeviceHistory, DeviceUseStatement.");
        }

        if (CacheSize < 1 || CacheExpiry <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:CacheSize and {SectionName}:CacheExpiry must be positive.");
        }

        if (MaxStaleness <= TimeSpan.Zero || MaxStaleness > CacheExpiry)
        {
            errors.Add($"{SectionName}:MaxStaleness must be positive and at most {SectionName}:CacheExpiry.");
        }

        return errors;
    }
}
