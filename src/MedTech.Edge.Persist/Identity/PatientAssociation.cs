namespace MedTech.Edge.Persist.Identity;

/// <summary>
/// Where Lookup modes find which Patient a device was on (configuration <c>ResourceIdentity:Association</c>). Create
/// mode ignores it: there the patient comes from the message, as in MedTech. The rules are in docs/patient-association.md.
/// </summary>
public enum PatientAssociation
{
    /// <summary>MedTech's behaviour: the Device's <c>patient</c> now, whenever the measurement was taken.</summary>
    CurrentDevice,

    /// <summary>The Device's version history: each version's <c>patient</c> from its <c>meta.lastUpdated</c> to the next version's.</summary>
    DeviceHistory,

    /// <summary>The DeviceUseStatements of the Device: <c>subject</c> over <c>timingPeriod</c>, entered-in-error and intended ones left out.</summary>
    DeviceUseStatement,
}
