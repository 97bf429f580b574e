using System.Text.Json;
using MedTech.Edge.Files;
using MedTech.Edge.Transform;
using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Persist;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedTech.Edge.Writer;

/// <summary>
/// <c>Writer:Shadow</c>: instead of persisting, compares what each batch would write with what the FHIR server holds
/// under the same Observation ids (<see cref="ObservationShadow"/>), and adds it to the report at
/// <see cref="WriterOptions.ShadowReportPath"/>: matching, differing and missing counts, groups that would have failed by
/// reason code, and the first differences. Nothing is written to the FHIR server or the dead-letter topic. The report
/// holds clinical values (the differences), so it is a private file and never logged; the log gets only the counts.
/// Identities: Lookup modes look the Device (and Patient, Encounter) up, reading only; Create mode looks the Patient and
/// Device up too, as the writer would, and takes MedTech's hashed id only for one not found (creating it would be a write).
/// </summary>
public sealed partial class ShadowRun(FhirMapping mapping, IdentityResolver identity, FhirServerClient server, IOptions<PersistenceOptions> persistence,
    IOptions<ResourceIdentityOptions> identityOptions, IOptions<WriterOptions> options, ILogger<ShadowRun> logger)
{
    /// <summary>Differences kept in the report: enough to see a pattern, bounded for a day of traffic.</summary>
    public const int MaxDifferences = 50;

    private readonly Lock gate = new();
    private readonly Report report = new();

    public async Task<PersistResult> CompareAsync(IReadOnlyList<Measurement> measurements, CancellationToken cancellationToken)
    {
        var result = await ObservationShadow.CompareAsync(measurements, mapping, ResolveAsync, server, persistence.Value, cancellationToken).ConfigureAwait(false);
        lock (gate)
        {
            report.Matching += result.Matching;
            report.Differing += result.Differing;
            report.Missing += result.Missing;
            report.FirstDifferences.AddRange(result.Differences.Take(MaxDifferences - report.FirstDifferences.Count));
            Save();
        }

        Log.Compared(logger, result.Matching, result.Differing, result.Missing, result.Errors.Count);
        return new PersistResult(0, 0, 0, result.Errors);
    }

    /// <summary>Counts what would have been dead-lettered, by reason code (the payloads stay on the hub).</summary>
    public void WouldDeadLetter(IEnumerable<string> codes)
    {
        lock (gate)
        {
            foreach (var code in codes)
            {
                report.Failed[code] = report.Failed.GetValueOrDefault(code) + 1;
            }

            Save();
        }
    }

    private async Task<IReadOnlyList<IdentityPart>> ResolveAsync(MeasurementGroup group, CancellationToken cancellationToken)
    {
        if (identityOptions.Value.Mode != ResourceIdentityMode.Create)
        {
            return await identity.ResolveAsync(group, null, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            return [new IdentityPart(await identity.PreviewCreateAsync(group.Key, cancellationToken).ConfigureAwait(false), group.Measurements)];
        }
        catch (TransformException ex)
        {
            return [new IdentityPart(null, group.Measurements, ex.Code, ex.Message)];
        }
    }

    private void Save()
    {
        var path = Path.GetFullPath(options.Value.ShadowReportPath);
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        PrivateFiles.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(report, ReportJson));
        File.Move(temporary, path, overwrite: true);
    }

    private static readonly JsonSerializerOptions ReportJson = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The report file's shape.</summary>
    public sealed class Report
    {
        public long Matching { get; set; }

        public long Differing { get; set; }

        public long Missing { get; set; }

        public Dictionary<string, long> Failed { get; init; } = [];

        public List<ShadowDifference> FirstDifferences { get; init; } = [];
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5301, Level = LogLevel.Information, Message = "Shadow batch: {Matching} Observations match the server, {Differing} differ, {Missing} are missing; {Failed} groups would have failed. Nothing was written.")]
        public static partial void Compared(ILogger logger, int matching, int differing, int missing, int failed);
    }
}
