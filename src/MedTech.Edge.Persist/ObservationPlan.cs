using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist;

/// <summary>
/// The Transform stage for one batch: finds each measurement group's template and identity, and
/// splits it into the Observations it touches (keyed by Observation id). Groups that cannot be transformed are
/// returned as errors with their reason code; so is a group some of whose measurements have no (or an ambiguous)
/// Patient association, while its other measurements are still planned (the error output keeps the whole group, and
/// writing it again later changes nothing already written).
/// </summary>
internal static class ObservationPlan
{
    public static async Task<(List<PendingObservation> Pending, Dictionary<(MeasurementGroup Group, string Code), PersistError> Errors)> CreateAsync(
        IReadOnlyList<MeasurementGroup> groups,
        FhirMapping mapping,
        Func<MeasurementGroup, CancellationToken, Task<IReadOnlyList<IdentityPart>>> resolve,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<(MeasurementGroup Group, string Code), PersistError>();
        var pending = new Dictionary<string, PendingObservation>();
        foreach (var group in groups)
        {
            try
            {
                var template = mapping.Find(group.Key.Type)
                    ?? throw new TransformException(FhirErrorCodes.TemplateNotFound, $"The FHIR mapping has no CodeValueFhir template for type '{group.Key.Type}'.");
                foreach (var part in await resolve(group, cancellationToken).ConfigureAwait(false))
                {
                    if (part.Ids is not { } ids)
                    {
                        AddError(errors, group, part.Measurements, part.Code!, part.Message!);
                        continue;
                    }

                    // A part of a group that straddles a re-link is split on its own: its Observations carry its
                    // Patient's id, so the ids stay MedTech's and are the same however the measurements were batched.
                    var measurements = part.Measurements.Count == group.Measurements.Count ? group : group with { Measurements = part.Measurements };
                    foreach (var observationGroup in ObservationGrouping.Split(measurements, template.PeriodInterval))
                    {
                        var id = ObservationIdentity.ObservationId(ObservationIdentity.IdentifierValue(ids, observationGroup));
                        if (!pending.TryGetValue(id, out var observation))
                        {
                            pending[id] = observation = new PendingObservation(id, template, ids);
                        }

                        observation.Add(observationGroup, group, measurements);
                    }
                }
            }
            catch (TransformException ex)
            {
                AddError(errors, group, null, ex.Code, ex.Message);
            }
            catch (FhirRequestException ex) when (ex.IsContentRefused)
            {
                // An identity search this group's ids made the server refuse (e.g. an identifier too long for a URL).
                AddError(errors, group, null, FhirErrorCodes.FhirResourceRejected, Refused((int)ex.Status, "the identity search", ex.Outcome));
            }
            catch (Exception ex) when (IsContained(ex, cancellationToken))
            {
                AddError(errors, group, null, FhirErrorCodes.ProcessingError, FhirErrorCodes.Describe("transform", ex));
            }
        }

        return (pending.Values.ToList(), errors);
    }

    /// <summary>
    /// An exception that fails the one group in hand: anything but the server being unavailable or refusing the
    /// writer (those hold the whole batch until the server is back) and cancellation (stopping).
    /// </summary>
    public static bool IsContained(Exception exception, CancellationToken cancellationToken) =>
        exception is not (FhirServerUnavailableException or FhirRequestException)
        && !(exception is OperationCanceledException && cancellationToken.IsCancellationRequested);

    /// <summary>The reason of a group the server refused: the status, what was refused, and the PHI-free outcome summary.</summary>
    public static string Refused(int status, string what, string? outcome) =>
        $"The FHIR server refused {what} with HTTP {status}: {FhirServerClient.SummarizeOutcome(outcome) ?? "(no OperationOutcome)"}";

    /// <summary>Records a failure for every measurement group that went into the Observation.</summary>
    public static void Fail(PendingObservation pending, string code, string message, Dictionary<(MeasurementGroup Group, string Code), PersistError> errors)
    {
        foreach (var source in pending.Sources)
        {
            AddError(errors, source, null, code, message);
        }
    }

    /// <summary>
    /// Records that <paramref name="failed"/> measurements of a group (null: all) did not reach the server, by reason:
    /// failures of one group with one code add up, and a group can fail with several codes (some measurements without
    /// a Patient association, others with two), so every failed measurement is in an error with its own reason.
    /// </summary>
    public static void AddError(Dictionary<(MeasurementGroup Group, string Code), PersistError> errors, MeasurementGroup group, IReadOnlyList<Measurement>? failed, string code, string message)
    {
        failed ??= group.Measurements;
        if (errors.TryGetValue((group, code), out var existing))
        {
            failed = existing.Group.Measurements.Union(failed).ToList();
            message = existing.Message;
        }

        errors[(group, code)] = new PersistError(failed.Count >= group.Measurements.Count ? group : group with { Measurements = failed }, code, message);
    }
}
