namespace MedTech.Edge.Persist.Identity;

/// <summary>How Device, Patient and Encounter ids are found (MedTech's <c>ResourceIdentityServiceType</c>).</summary>
public enum ResourceIdentityMode
{
    /// <summary>Find the Device by identifier and take its Patient; nothing is created.</summary>
    Lookup,

    /// <summary>As Lookup, but create a missing Patient and Device (deterministic ids) and link them.</summary>
    Create,

    /// <summary>As Lookup, and every measurement must name an Encounter.</summary>
    LookupWithEncounter,
}
