namespace MedTech.Edge.Transform.Observations;

/// <summary>The FHIR logical ids identity resolution found for a measurement group.</summary>
public sealed record ResourceIds(string PatientId, string DeviceId, string? EncounterId = null);
