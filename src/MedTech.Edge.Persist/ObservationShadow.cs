using System.Globalization;
using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist;

/// <summary>One element in which what the writer would write differs from what the server holds under the same Observation id.</summary>
public sealed record ShadowDifference(string ObservationId, string Element, string Computed, string Stored);

/// <summary>
/// What a batch would have done (<see cref="ObservationShadow"/>): Observations the server holds exactly as the writer
/// would leave them, ones it would change, ones the server does not have; the elements that differ; and the groups
/// that would have failed.
/// </summary>
public sealed record ShadowResult(int Matching, int Differing, int Missing, IReadOnlyList<ShadowDifference> Differences, IReadOnlyList<PersistError> Errors);

/// <summary>
/// The writer's dry run (<c>Writer:Shadow</c>), for a migration from MedTech: computes the Observations a batch would
/// write, with the same plan and merge as <see cref="ObservationPersister"/>, reads what the server holds under the same
/// ids (MedTech's ids: the same hashes), and compares, writing nothing. The clinical elements (code, subject, device,
/// identifier, encounter, which components) are compared between the Observation the writer would create from scratch
/// and the stored one: the merge keeps those of the stored one, so comparing the merge would call another patient's or
/// another code's Observation matching. Values (time, value, component values) are compared through the merge, which
/// is what the writer would do to them. An Observation matches when neither finds a difference; else the differing
/// elements are named.
/// </summary>
public static class ObservationShadow
{
    /// <param name="resolve">The Patient and Device (and Encounter) of a group, found without writing anything.</param>
    public static async Task<ShadowResult> CompareAsync(IReadOnlyList<Measurement> measurements, FhirMapping mapping,
        Func<MeasurementGroup, CancellationToken, Task<IReadOnlyList<IdentityPart>>> resolve, FhirServerClient server, PersistenceOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(measurements);
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(options);
        var (pending, errors) = await ObservationPlan.CreateAsync(MeasurementGrouper.Group(measurements), mapping, resolve, cancellationToken).ConfigureAwait(false);
        int matching = 0, differing = 0, missing = 0;
        var differences = new List<ShadowDifference>();
        var now = DateTimeOffset.UtcNow;
        foreach (var chunk in pending.Chunk(options.MaxBundleEntries))
        {
            var entries = await server.GetBatchAsync(chunk.Select(p => $"Observation/{p.Id}").ToList(), cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < chunk.Length; i++)
            {
                var stored = FhirServerClient.Status(entries[i]?.Response?.Status) switch
                {
                    200 when entries[i]!.Resource is Observation observation => observation,
                    404 or 410 => null,
                    var status => throw new FhirServerUnavailableException($"Reading an Observation failed with HTTP {status}; the batch must be retried."),
                };
                if (stored is null)
                {
                    missing++;
                    continue;
                }

                Observation? fresh, merged;
                try
                {
                    fresh = chunk[i].Build(null, now, options.Limits);
                    merged = chunk[i].Build((Observation)stored.DeepCopy(), now, options.Limits);
                }
                catch (TransformException ex)
                {
                    ObservationPlan.Fail(chunk[i], ex.Code, ex.Message, errors);
                    continue;
                }

                var found = (fresh is null ? [] : Compare(chunk[i].Id, Clinical, fresh, stored))
                    .Concat(merged is null ? [] : Compare(chunk[i].Id, Values, merged, stored)).ToList();
                if (found.Count == 0)
                {
                    matching++;
                    continue;
                }

                differing++;
                differences.AddRange(found);
            }
        }

        return new ShadowResult(matching, differing, missing, differences, errors.Values.ToList());
    }

    /// <summary>The elements of <paramref name="elements"/> that differ between <paramref name="computed"/> and <paramref name="stored"/>.</summary>
    private static IEnumerable<ShadowDifference> Compare(string id, (string Element, Func<Observation, string> Read)[] elements, Observation computed, Observation stored)
    {
        foreach (var (element, read) in elements)
        {
            var (a, b) = (read(computed), read(stored));
            if (!string.Equals(a, b, StringComparison.Ordinal))
            {
                yield return new ShadowDifference(id, element, a, b);
            }
        }
    }

    /// <summary>What the Observation is about and says it is: compared from scratch, as the merge would keep the stored ones.</summary>
    private static readonly (string Element, Func<Observation, string> Read)[] Clinical =
    [
        ("identifier", o => string.Join(",", o.Identifier.Select(i => $"{i.System}|{i.Value}"))),
        ("subject", o => o.Subject?.Reference ?? ""),
        ("device", o => o.Device?.Reference ?? ""),
        ("encounter", o => o.Encounter?.Reference ?? ""),
        ("code", o => string.Join(",", o.Code?.Coding.Select(c => $"{c.System}|{c.Code}") ?? [])),
        ("component", o => string.Join(",", o.Component.Select(c => string.Join("+", c.Code?.Coding.Select(x => $"{x.System}|{x.Code}") ?? [])).Order(StringComparer.Ordinal))),
    ];

    /// <summary>The readings: compared through the merge, since samples of earlier batches rightly stay in the stored one.</summary>
    private static readonly (string Element, Func<Observation, string> Read)[] Values =
    [
        ("effective", o => o.Effective is Period p ? $"{p.Start}/{p.End}" : o.Effective?.ToString() ?? ""),
        ("value", o => Value(o.Value)),
        ("component.value", o => string.Join(",", o.Component.Select(c => $"{c.Code?.Coding.FirstOrDefault()?.Code}={Value(c.Value)}"))),
    ];

    private static string Value(DataType? value) => value switch
    {
        null => "",
        Quantity q => string.Create(CultureInfo.InvariantCulture, $"{q.Value} {q.Unit} ({q.System}|{q.Code})"),
        SampledData s => string.Create(CultureInfo.InvariantCulture, $"SampledData period {s.Period}: {s.Data}"),
        CodeableConcept c => string.Join(",", c.Coding.Select(x => $"{x.System}|{x.Code}")),
        PrimitiveType p => p.ToString() ?? "",
        _ => value.TypeName,
    };
}
