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
/// ids (MedTech's ids: the same hashes), and compares, writing nothing. An Observation matches when merging the batch
/// into the stored one changes nothing; else it differs, and the elements that differ are named.
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

                Observation? computed;
                try
                {
                    computed = chunk[i].Build((Observation)stored.DeepCopy(), now, options.Limits);
                }
                catch (TransformException ex)
                {
                    ObservationPlan.Fail(chunk[i], ex.Code, ex.Message, errors);
                    continue;
                }

                if (computed is null)
                {
                    matching++;
                    continue;
                }

                differing++;
                differences.AddRange(Compare(chunk[i].Id, computed, stored));
            }
        }

        return new ShadowResult(matching, differing, missing, differences, errors.Values.ToList());
    }

    /// <summary>The clinical elements that differ (status, identifiers, subject, device, encounter, code, time, value, components).</summary>
    private static IEnumerable<ShadowDifference> Compare(string id, Observation computed, Observation stored)
    {
        foreach (var (element, read) in Elements)
        {
            var (a, b) = (read(computed), read(stored));
            if (!string.Equals(a, b, StringComparison.Ordinal))
            {
                yield return new ShadowDifference(id, element, a, b);
            }
        }
    }

    private static readonly (string Element, Func<Observation, string> Read)[] Elements =
    [
        ("identifier", o => string.Join(",", o.Identifier.Select(i => $"{i.System}|{i.Value}"))),
        ("subject", o => o.Subject?.Reference ?? ""),
        ("device", o => o.Device?.Reference ?? ""),
        ("encounter", o => o.Encounter?.Reference ?? ""),
        ("code", o => string.Join(",", o.Code?.Coding.Select(c => $"{c.System}|{c.Code}") ?? [])),
        ("effective", o => o.Effective is Period p ? $"{p.Start}/{p.End}" : o.Effective?.ToString() ?? ""),
        ("value", o => Value(o.Value)),
        ("component", o => string.Join(",", o.Component.Select(c => $"{c.Code?.Coding.FirstOrDefault()?.Code}={Value(c.Value)}"))),
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
