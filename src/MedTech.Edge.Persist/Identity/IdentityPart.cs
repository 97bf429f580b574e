using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist.Identity;

/// <summary>
/// Measurements of one group that share an identity: <see cref="Ids"/> when it was found, else the reason code and
/// message why not. A group whose measurements straddle a re-link resolves into one part per Patient.
/// </summary>
public sealed record IdentityPart(ResourceIds? Ids, IReadOnlyList<Measurement> Measurements, string? Code = null, string? Message = null);
