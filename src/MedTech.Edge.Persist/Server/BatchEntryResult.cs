namespace MedTech.Edge.Persist.Server;

/// <summary>
/// One entry of a batch response to writes: its HTTP status, the new version on success, and on failure a PHI-free
/// summary of its OperationOutcome (<see cref="FhirServerClient.SummarizeOutcome"/>).
/// </summary>
public sealed record BatchEntryResult(int Status, string? VersionId, string? Outcome)
{
    public bool IsSuccess => Status is >= 200 and < 300;
}
