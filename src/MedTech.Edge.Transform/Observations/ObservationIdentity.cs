using System.Security.Cryptography;
using System.Text;

namespace MedTech.Edge.Transform.Observations;

/// <summary>
/// Identifiers and ids exactly as MedTech / iomt-fhir computes them, so a migration continues the same resources.
/// </summary>
public static class ObservationIdentity
{
    /// <summary>The identifier system of every Observation (and the system of the connector's own codings).</summary>
    public const string System = "https://azure.microsoft.com/en-us/services/iomt-fhir-connector/";

    /// <summary><c>{patientId}.{deviceId}.{type}.{idSegment}</c>, from FHIR logical ids.</summary>
    public static string IdentifierValue(ResourceIds ids, ObservationGroup group)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(group);
        return $"{ids.PatientId}.{ids.DeviceId}.{group.Type}.{group.IdSegment}";
    }

    /// <summary>The Observation's logical id: SHA-256 of <c>"{system}_{value}"</c>, lowercase hex.</summary>
    public static string ObservationId(string identifierValue) => Hash(System, identifierValue);

    /// <summary>Upstream's deterministic resource id: lowercase hex SHA-256 of <c>"{system}_{value}"</c> (system may be empty).</summary>
    public static string Hash(string? system, string value) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{system}_{value}")));
}
