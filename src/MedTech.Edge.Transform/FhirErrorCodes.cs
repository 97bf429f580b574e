using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Transform;

/// <summary>
/// Reason codes for measurement groups that cannot become Observations, named as MedTech names them in its
/// metrics, so operators search for the same words. Each goes with the group to the error output.
/// </summary>
public static class FhirErrorCodes
{
    /// <summary>No <c>CodeValueFhir</c> template has the measurement's type.</summary>
    public const string TemplateNotFound = "TemplateNotFoundException";

    /// <summary>The template groups by correlation id, and the measurement has none.</summary>
    public const string CorrelationIdNotDefined = "CorrelationIdNotDefinedException";

    /// <summary>A Quantity value is not a number.</summary>
    public const string InvalidQuantityFhirValue = "InvalidQuantityFhirValueException";

    /// <summary>A SampledData value is not a FHIR decimal (upstream writes it anyway and the server rejects it).</summary>
    public const string InvalidSampledDataFhirValue = "InvalidSampledDataFhirValueException";

    /// <summary>The stored Observation cannot be merged (another value type, or SampledData with several dimensions).</summary>
    public const string NotSupported = "NotSupportedException";

    /// <summary>No Device has the measurement's device identifier.</summary>
    public const string DeviceNotFound = "DeviceNotFoundException";

    /// <summary>The Device has no usable <c>patient</c> reference, or the Patient does not exist.</summary>
    public const string PatientNotFound = "PatientNotFoundException";

    /// <summary>No Encounter has the measurement's encounter identifier.</summary>
    public const string EncounterNotFound = "EncounterNotFoundException";

    /// <summary>Several Devices have the measurement's device identifier.</summary>
    public const string MultipleDeviceFound = "MultipleDeviceFoundException";

    /// <summary>Several Patients have the measurement's patient identifier.</summary>
    public const string MultiplePatientFound = "MultiplePatientFoundException";

    /// <summary>The measurement's Encounter is another Patient's than the one it is charted to (a monitor moved while its messages still name the former visit).</summary>
    public const string EncounterPatientMismatch = "EncounterPatientMismatchException";

    /// <summary>Several Encounters have the measurement's encounter identifier.</summary>
    public const string MultipleEncounterFound = "MultipleEncounterFoundException";

    /// <summary>Create mode needs a patient id, and the measurement has none.</summary>
    public const string PatientIdentityNotDefined = "PatientIdentityNotDefinedException";

    /// <summary>LookupWithEncounter needs an encounter id, and the measurement has none.</summary>
    public const string EncounterIdentityNotDefined = "EncounterIdentityNotDefinedException";

    /// <summary>The Device is linked to another Patient than the measurement names.</summary>
    public const string PatientDeviceMismatch = "PatientDeviceMismatchException";

    /// <summary>
    /// Association by measurement time (<c>ResourceIdentity:Association</c>): no association of the Device covers the
    /// measurement's time, or the one that does names no Patient. Not a guess: the group waits in the error output.
    /// </summary>
    public const string NoPatientAssociation = "NoPatientAssociation";

    /// <summary>Association by measurement time: associations with different Patients cover the measurement's time.</summary>
    public const string AmbiguousPatientAssociation = "AmbiguousPatientAssociation";

    /// <summary>
    /// Create mode: the server's identifier search ignores case and found another identifier, and the hashed id the
    /// Patient or Device would get is held by another resource: nothing is created or overwritten.
    /// </summary>
    public const string IdentityConflict = "IdentityConflict";

    /// <summary>The FHIR server rejected the Observation; the message carries the HTTP status and its OperationOutcome.</summary>
    public const string FhirResourceRejected = "FhirResourceRejected";

    /// <summary>An Observation would exceed <see cref="Persistence.PersistenceOptions.MaxSampledDataSlots"/> or <see cref="Persistence.PersistenceOptions.MaxValueLength"/>.</summary>
    public const string ObservationTooLarge = "ObservationTooLarge";

    /// <summary>An occurrence time whose Observation window cannot be represented (the ends of the calendar), as upstream names data it cannot use.</summary>
    public const string IncompatibleData = "IncompatibleDataException";

    /// <summary>Any unexpected exception while transforming or persisting one group (the pipeline-wide code).</summary>
    public const string ProcessingError = ErrorCodes.ProcessingError;

    /// <summary>
    /// The reason text of a <see cref="ProcessingError"/>: stage, exception type, and the message cut to a few hundred
    /// characters (a dead letter's reason must stay small; the type is what an operator searches for).
    /// </summary>
    public static string Describe(string stage, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        const int MaxMessage = 300;
        var message = exception.Message.Length > MaxMessage ? exception.Message[..MaxMessage] + "…" : exception.Message;
        return $"{stage}: {exception.GetType().Name}: {message}";
    }
}
