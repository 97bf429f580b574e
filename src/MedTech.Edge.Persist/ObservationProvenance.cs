using System.Globalization;
using System.Text;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Mapping.Normalization;

namespace MedTech.Edge.Persist;

/// <summary>
/// Where a measurement came from, for the Provenance of the Observations it went into: its hub message as an id
/// (<c>topic/partition/offset</c>) or a hash of the message's bytes, never its content, and the gateway that sent it
/// when the message names one.
/// </summary>
public sealed record MeasurementSource(string MessageId, string? Gateway = null);

/// <summary>
/// Builds the Provenance of one write bundle: its targets are the Observation versions the bundle wrote (only the
/// entries that succeeded), who is the writer (performer of the write) and the gateways the measurements came
/// through (assemblers of the measurements), when is now, the measurements' period is <c>occurredPeriod</c>, and
/// the entities are the hub messages as identifiers (see <see cref="Ranges"/>). One Provenance per activity: R4 has one activity per
/// Provenance, and a bundle that both creates and updates gets one of each (still in the same single request).
/// </summary>
internal static class ObservationProvenance
{
    public const string WriterSystem = "urn:medtech-edge:writer";
    public const string GatewaySystem = "urn:medtech-edge:gateway";
    public const string HubMessageSystem = "urn:medtech-edge:hub-message";
    public const string ParticipantTypeSystem = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
    public const string DataOperationSystem = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";

    // The Provenance's own id is a hash in this namespace of its activity and targets (see Create).
    private const string IdSystem = "urn:medtech-edge:provenance";

    /// <summary>The longest gateway name written as is; a longer one (or one with control characters) is written as its hash.</summary>
    private const int MaxGatewayChars = 128;

    /// <summary>An Observation a write bundle wrote: its id, the version the server gave it (null if it gave none), and whether it was new.</summary>
    public sealed record Written(PendingObservation Pending, string? VersionId, bool IsCreate);

    public static IEnumerable<Provenance> Create(IReadOnlyList<Written> written, DateTimeOffset now, string writerAgent, Func<Measurement, MeasurementSource?>? sourceOf) =>
        written.GroupBy(w => w.IsCreate).OrderBy(g => g.Key).Select(activity => Build([.. activity], activity.Key ? "CREATE" : "UPDATE", now, writerAgent, sourceOf));

    private static Provenance Build(List<Written> written, string activity, DateTimeOffset now, string writerAgent, Func<Measurement, MeasurementSource?>? sourceOf)
    {
        // Version-specific targets: a server without a version for an entry (no ETag) still gets the Observation named.
        var targets = written.Select(w => w.VersionId is { Length: > 0 } version ? $"Observation/{w.Pending.Id}/_history/{version}" : $"Observation/{w.Pending.Id}")
            .Order(StringComparer.Ordinal).ToList();
        var measurements = written.SelectMany(w => w.Pending.Measurements).ToList();
        var sources = sourceOf is null ? [] : measurements.Select(sourceOf).OfType<MeasurementSource>().ToList();
        var messages = Ranges(sources.Select(s => s.MessageId)).ToList();
        var provenance = new Provenance
        {
            // The same write (same activity, versions and hub messages) always gets the same id, so a PUT retried after
            // a lost answer, or a batch written again, replaces the Provenance instead of adding a second one; a
            // duplicate from another hub message finding the version unchanged adds its own instead of replacing it.
            Id = ObservationIdentity.Hash(IdSystem, activity + " " + string.Join(' ', targets) + " from " + string.Join(' ', messages)),
            Target = targets.Select(t => new ResourceReference(t)).ToList(),
            RecordedElement = new Instant(now),
            Activity = new CodeableConcept(DataOperationSystem, activity, activity == "CREATE" ? "create" : "revise"),
            Agent = [Agent(Writer(writerAgent), "performer", "Performer")],
        };
        if (measurements.Count > 0)
        {
            provenance.Occurred = new Period(Time(measurements.Min(m => m.OccurrenceTimeUtc)), Time(measurements.Max(m => m.OccurrenceTimeUtc)));
        }

        foreach (var gateway in sources.Select(s => s.Gateway).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            provenance.Agent.Add(Agent(new ResourceReference { Type = "Device", Identifier = new Identifier(GatewaySystem, Bounded(gateway)) }, "assembler", "Assembler"));
        }

        provenance.Entity.AddRange(messages.Select(id => new Provenance.EntityComponent
        {
            Role = Provenance.ProvenanceEntityRole.Source,
            What = new ResourceReference { Identifier = new Identifier(HubMessageSystem, id) },
        }));
        return provenance;
    }

    /// <summary>
    /// The message ids, each once and sorted; consecutive offsets of one partition (<c>topic/partition/offset</c>) as
    /// one range <c>topic/partition/first-last</c>, which holds exactly those messages: a writer consumes a partition in
    /// order, so a batch's Provenance names a few ranges rather than hundreds of messages.
    /// </summary>
    internal static IEnumerable<string> Ranges(IEnumerable<string> ids)
    {
        var offsets = new SortedDictionary<string, SortedSet<long>>(StringComparer.Ordinal);
        var others = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            var slash = id.LastIndexOf('/');
            if (slash > 0 && long.TryParse(id.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var offset) && id[(slash + 1)..] == offset.ToString(CultureInfo.InvariantCulture))
            {
                (offsets.TryGetValue(id[..slash], out var set) ? set : offsets[id[..slash]] = []).Add(offset);
            }
            else
            {
                others.Add(id);
            }
        }

        foreach (var (partition, set) in offsets)
        {
            long first = set.Min, last = first;
            foreach (var offset in set.Skip(1))
            {
                if (offset != last + 1)
                {
                    yield return Range(partition, first, last);
                    first = offset;
                }

                last = offset;
            }

            yield return Range(partition, first, last);
        }

        foreach (var other in others)
        {
            yield return other;
        }
    }

    private static string Range(string partition, long first, long last) =>
        first == last ? string.Create(CultureInfo.InvariantCulture, $"{partition}/{first}") : string.Create(CultureInfo.InvariantCulture, $"{partition}/{first}-{last}");

    /// <summary>The writer as configured: a literal <c>Device/{id}</c> reference, or a Device identifier in <see cref="WriterSystem"/>.</summary>
    private static ResourceReference Writer(string agent) =>
        agent.StartsWith("Device/", StringComparison.Ordinal)
            ? new ResourceReference(agent)
            : new ResourceReference { Type = "Device", Identifier = new Identifier(WriterSystem, agent) };

    private static Provenance.AgentComponent Agent(ResourceReference who, string type, string display) => new()
    {
        Type = new CodeableConcept(ParticipantTypeSystem, type, display),
        Who = who,
    };

    // A gateway name comes from the hub message's header: one that is no plausible name is kept only as its hash.
    private static string Bounded(string gateway) =>
        gateway.Length <= MaxGatewayChars && !gateway.Any(char.IsControl)
            ? gateway
            : "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(gateway)));

    private static FhirDateTime Time(DateTime utc) => new(utc.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
}
