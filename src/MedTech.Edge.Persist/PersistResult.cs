using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Transform;

namespace MedTech.Edge.Persist;

/// <summary>
/// What one batch did: Observations created, updated and left unchanged (a re-delivery), and the measurement groups
/// that failed, each with a reason code, for the error output. Everything else in the batch is on the server.
/// </summary>
public sealed record PersistResult(int Created, int Updated, int Unchanged, IReadOnlyList<PersistError> Errors)
{
    /// <summary>Provenance resources written (one per write bundle and activity).</summary>
    public int ProvenanceWritten { get; init; }

    /// <summary>Provenance resources the server refused or could not take; their Observations are written all the same.</summary>
    public int ProvenanceFailed { get; init; }
}

/// <summary>
/// A measurement group that did not reach the FHIR server, and why (<see cref="FhirErrorCodes"/>). When only some of its
/// measurements failed (no Patient association for their time), <see cref="Group"/> holds just those.
/// </summary>
public sealed record PersistError(MeasurementGroup Group, string Code, string Message);
