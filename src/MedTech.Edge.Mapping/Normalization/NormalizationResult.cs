namespace MedTech.Edge.Mapping.Normalization;

/// <summary>
/// What one message produced. A message with any error is a failed message: the pipeline dead-letters it
/// whole (no partial projection, unlike upstream), while the measurements that did extract are kept here
/// so the mapping tester can show them next to the errors.
/// </summary>
public sealed record NormalizationResult(IReadOnlyList<Measurement> Measurements, IReadOnlyList<NormalizationError> Errors)
{
    public bool IsSuccess => Errors.Count == 0;

    internal static NormalizationResult Failed(string code, string message) => new([], [new NormalizationError(code, message)]);
}
