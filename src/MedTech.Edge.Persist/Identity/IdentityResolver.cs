using System.Globalization;
using Hl7.Fhir.Model;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Mapping.Grouping;
using MedTech.Edge.Mapping.Normalization;
using Microsoft.Extensions.Caching.Memory;

namespace MedTech.Edge.Persist.Identity;

/// <summary>
/// Finds (or in Create mode makes) the Patient, Device and Encounter a measurement group belongs to, as MedTech's
/// identity services do, and reports failures with MedTech's error names. In Lookup modes with association by
/// measurement time (<see cref="PatientAssociation"/>), each measurement's Patient is the one the device was on when it
/// was measured, so a group can resolve into one part per Patient. Identities are cached per device, patient and
/// encounter id (upstream keys by device alone and so misses a device moved to another patient), association
/// histories per Device; an entry older than <see cref="ResourceIdentityOptions.MaxStaleness"/> is revalidated before
/// use (upstream's sliding expiry never expires under steady traffic, so a re-linked monitor kept charting to the
/// previous patient). Failures are not cached.
/// </summary>
public sealed partial class IdentityResolver : IDisposable
{

    private readonly FhirServerClient server;
    private readonly ResourceIdentityOptions options;
    private readonly ResourceIdentityMode mode;
    private readonly PatientAssociation association;
    private readonly TimeProvider time;
    private readonly MemoryCache cache;

    public IdentityResolver(FhirServerClient server, ResourceIdentityOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.server = server;
        this.options = options;
        mode = options.Mode;
        association = mode == ResourceIdentityMode.Create ? PatientAssociation.CurrentDevice : options.PatientAssociation;
        time = timeProvider ?? TimeProvider.System;
        cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.CacheSize });
    }

    /// <summary>Whether measurements of one group can go to different Patients (association by measurement time).</summary>
    public bool ByMeasurementTime => association != PatientAssociation.CurrentDevice;

    /// <summary>The ids for the group, or a <see cref="TransformException"/> with the reason (the Device's Patient now).</summary>
    public Task<ResourceIds> ResolveAsync(MeasurementGroupKey key, CancellationToken cancellationToken) => ResolveAsync(key, null, cancellationToken);

    /// <summary>As <see cref="ResolveAsync(MeasurementGroupKey, CancellationToken)"/>, taking the key's searches from <paramref name="ahead"/> when they are there.</summary>
    /// <param name="ahead">This batch's <see cref="SearchAheadAsync"/>; Create mode drops a Device's search from it once it has made or linked that Device.</param>
    public async Task<ResourceIds> ResolveAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        var identity = await IdentityAsync(key, ahead, requirePatient: true, cancellationToken).ConfigureAwait(false);
        if (!EncounterFits(identity, identity.PatientId!))
        {
            throw new TransformException(FhirErrorCodes.EncounterPatientMismatch, EncounterMismatch);
        }

        return new ResourceIds(identity.PatientId!, identity.DeviceId, identity.EncounterId);
    }

    private const string EncounterMismatch = "The measurement's Encounter is of another Patient than the one it would be charted to.";

    /// <summary>
    /// An Encounter that names a Patient is used only with that Patient: a reading of B must never sit in A's visit.
    /// (One without a <c>Patient/{id}</c> subject is used as upstream uses it.)
    /// </summary>
    private static bool EncounterFits(CachedIdentity identity, string patientId) =>
        identity.EncounterPatientId is null || string.Equals(identity.EncounterPatientId, patientId, StringComparison.Ordinal);

    /// <summary>
    /// The group's measurements by identity: one part with all of them, unless association is by measurement time;
    /// then one part per Patient, and a part without ids for the measurements no association (or more than one
    /// Patient) covers. A failure of the group as a whole is a <see cref="TransformException"/>, as before.
    /// </summary>
    public async Task<IReadOnlyList<IdentityPart>> ResolveAsync(MeasurementGroup group, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!ByMeasurementTime)
        {
            return [new IdentityPart(await ResolveAsync(group.Key, ahead, cancellationToken).ConfigureAwait(false), group.Measurements)];
        }

        var identity = await IdentityAsync(group.Key, ahead, requirePatient: false, cancellationToken).ConfigureAwait(false);
        var timeline = await TimelineAsync(identity, ahead, cancellationToken).ConfigureAwait(false);
        var byPatient = new Dictionary<string, List<Measurement>>(StringComparer.Ordinal);
        var failed = new Dictionary<string, List<Measurement>>(StringComparer.Ordinal);
        foreach (var measurement in group.Measurements)
        {
            var (patientId, code) = timeline.PatientAt(measurement.OccurrenceTimeUtc);
            if (patientId is not null && !EncounterFits(identity, patientId))
            {
                (patientId, code) = (null, FhirErrorCodes.EncounterPatientMismatch);
            }

            var into = patientId is not null ? byPatient : failed;
            var key = patientId ?? code!;
            if (!into.TryGetValue(key, out var list))
            {
                into[key] = list = [];
            }

            list.Add(measurement);
        }

        var parts = byPatient.Select(p => new IdentityPart(new ResourceIds(p.Key, identity.DeviceId, identity.EncounterId), p.Value)).ToList();
        parts.AddRange(failed.Select(f => new IdentityPart(null, f.Value, f.Key, f.Key switch
        {
            FhirErrorCodes.AmbiguousPatientAssociation => $"{f.Value.Count} of {group.Measurements.Count} measurement(s) fall in associations of the Device with different Patients ({association}); none is chosen.",
            FhirErrorCodes.EncounterPatientMismatch => $"{f.Value.Count} of {group.Measurements.Count} measurement(s): {EncounterMismatch}",
            _ => $"{f.Value.Count} of {group.Measurements.Count} measurement(s) fall in no association of the Device with a Patient ({association}).",
        })));
        return parts;
    }

    /// <summary>
    /// Runs the Device and Encounter searches of the keys that are not cached as batch bundles of searches: a batch
    /// from many devices the writer has not seen yet (after a start, or once the cache expired) costs a request per
    /// <paramref name="maxPerBundle"/> searches instead of a round trip each before anything is written. The results
    /// are by query; a search the bundle could not answer in one page is left out, and
    /// <see cref="ResolveAsync(MeasurementGroupKey, Dictionary{string, IReadOnlyList{Resource}}?, CancellationToken)"/>
    /// then runs it as usual, with the usual errors. With association by measurement time, the association histories
    /// of Devices not cached follow in a second bundle, and stale DeviceUseStatement histories' changes in the first.
    /// </summary>
    public async Task<Dictionary<string, IReadOnlyList<Resource>>> SearchAheadAsync(IEnumerable<MeasurementGroupKey> keys, int maxPerBundle, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, IReadOnlyList<Resource>>();
        var all = keys.ToList();
        if (!await BatchAsync(all.SelectMany(AheadQueries).Distinct().ToList(), maxPerBundle, found, cancellationToken).ConfigureAwait(false) || !ByMeasurementTime)
        {
            return found;
        }

        // Devices seen for the first time (or again after CacheExpiry) need their whole association history: those
        // reads go in one more bundle, instead of a request per Device.
        var histories = new List<string>();
        foreach (var key in all)
        {
            var deviceId = cache.Get<CachedIdentity>(CacheKey(key))?.DeviceId
                ?? (found.GetValueOrDefault(DeviceSearch(key.DeviceId)) is [Device { Id: { } id }] ? id : null);
            if (deviceId is not null && !cache.TryGetValue(TimelineKey(deviceId), out _))
            {
                histories.Add(association == PatientAssociation.DeviceHistory ? History(deviceId) : Statements(deviceId));
            }
        }

        await BatchAsync(histories.Distinct().ToList(), maxPerBundle, found, cancellationToken).ConfigureAwait(false);
        return found;
    }

    /// <summary>
    /// GETs the queries with batch bundles into <paramref name="found"/>; a query the bundle could not answer in one
    /// page (or a history page with a deletion, whose time only a history read keeps) is left out. False when the
    /// server refuses searches in a batch.
    /// </summary>
    private async Task<bool> BatchAsync(List<string> queries, int maxPerBundle, Dictionary<string, IReadOnlyList<Resource>> found, CancellationToken cancellationToken)
    {
        if (queries.Count < 2)
        {
            // One search alone is one request either way.
            return true;
        }

        foreach (var chunk in queries.Chunk(maxPerBundle))
        {
            IReadOnlyList<Bundle.EntryComponent?> entries;
            try
            {
                entries = await server.GetBatchAsync(chunk, cancellationToken).ConfigureAwait(false);
            }
            catch (FhirRequestException)
            {
                // A server that refuses searches in a batch (FHIR allows them; HAPI, Azure and Medplum take them): one search each, as before.
                return false;
            }

            for (var i = 0; i < chunk.Length; i++)
            {
                if (FhirServerClient.Status(entries[i]?.Response?.Status) == 200 && entries[i]!.Resource is Bundle { NextLink: null } page && page.Entry.All(e => e.Resource is not null))
                {
                    found[chunk[i]] = page.Entry.Select(e => e.Resource!).ToList();
                }
            }
        }

        return true;
    }

    /// <summary>
    /// The searches a key will need: its Device and Encounter searches when its identity is not cached fresh, and with
    /// DeviceUseStatement association the changed statements of its Device when that Device's history is stale.
    /// </summary>
    private IEnumerable<string> AheadQueries(MeasurementGroupKey key)
    {
        var cached = cache.Get<CachedIdentity>(CacheKey(key));
        if (cached is null || !IsFresh(cached.ValidatedAt))
        {
            yield return DeviceSearch(key.DeviceId);
            if (!string.IsNullOrEmpty(key.EncounterId))
            {
                yield return EncounterSearch(key.EncounterId);
            }
        }

        if (association == PatientAssociation.DeviceUseStatement && cached is not null
            && cache.Get<AssociationTimeline>(TimelineKey(cached.DeviceId)) is { } timeline && !IsFresh(timeline.FetchedAt))
        {
            yield return Statements(cached.DeviceId);
        }
    }

    /// <summary>The cached identity when fresh, else a lookup (or, in Create mode, the create path), cached.</summary>
    private async Task<CachedIdentity> IdentityAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, bool requirePatient, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (cache.Get<CachedIdentity>(CacheKey(key)) is { } cached && IsFresh(cached.ValidatedAt) && (cached.PatientId is not null || !requirePatient))
        {
            return cached;
        }

        var validatedAt = time.GetUtcNow();
        var identity = mode == ResourceIdentityMode.Create
            ? await CreateAsync(key, ahead, cancellationToken).ConfigureAwait(false)
            : await LookupAsync(key, ahead, requirePatient, cancellationToken).ConfigureAwait(false);
        identity = identity with { ValidatedAt = validatedAt };
        cache.Set(CacheKey(key), identity, Entry());
        return identity;
    }

    /// <summary>
    /// The Device's association history: cached while fresh; else revalidated (DeviceHistory: the Device searched
    /// just now is the version the history ends with) or refreshed (DeviceUseStatement: statements changed since the
    /// last read, merged), and read in full when not cached (after <see cref="ResourceIdentityOptions.CacheExpiry"/>).
    /// </summary>
    private async Task<AssociationTimeline> TimelineAsync(CachedIdentity identity, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        var existing = cache.Get<AssociationTimeline>(TimelineKey(identity.DeviceId));
        if (existing is not null && IsFresh(existing.FetchedAt))
        {
            return existing;
        }

        var now = time.GetUtcNow();
        AssociationTimeline timeline;
        if (association == PatientAssociation.DeviceHistory)
        {
            timeline = existing?.DeviceVersion is { } version && version == identity.DeviceVersion && IsFresh(identity.ValidatedAt)
                ? existing.Revalidated(identity.ValidatedAt)
                : AssociationTimeline.FromDeviceHistory(ahead?.GetValueOrDefault(History(identity.DeviceId)) is { } versions
                    ? versions.OfType<Device>().Select(v => ((Device?)v, v.Meta?.LastUpdated)).ToList()
                    : await server.HistoryAsync<Device>(History(identity.DeviceId), cancellationToken).ConfigureAwait(false), now);
        }
        else
        {
            // All of the Device's statements every time, not those changed since: a statement deleted, or moved to the
            // right monitor, no longer names this Device, so only a full read sees it gone (within MaxStaleness).
            timeline = AssociationTimeline.FromStatements(await SearchAsync<DeviceUseStatement>(Statements(identity.DeviceId), ahead, cancellationToken).ConfigureAwait(false), now);
        }

        cache.Set(TimelineKey(identity.DeviceId), timeline, Entry());
        return timeline;
    }

    private bool IsFresh(DateTimeOffset validatedAt) => time.GetUtcNow() - validatedAt < options.MaxStaleness;

    private MemoryCacheEntryOptions Entry() => new() { Size = 1, AbsoluteExpirationRelativeToNow = options.CacheExpiry };

    private static (string DeviceId, string? PatientId, string? EncounterId) CacheKey(MeasurementGroupKey key) => (key.DeviceId, key.PatientId, key.EncounterId);

    private static (string Kind, string DeviceId) TimelineKey(string deviceId) => ("timeline", deviceId);

    private static string History(string deviceId) => $"Device/{Uri.EscapeDataString(deviceId)}/_history";

    private static string Statements(string deviceId) => $"DeviceUseStatement?device={Uri.EscapeDataString("Device/" + deviceId)}";


    /// <summary>A cached identity: the Device's logical id and version, its Patient now (null when it has none), the Encounter, and when the server said so.</summary>
    private sealed record CachedIdentity(string DeviceId, string? PatientId, string? EncounterId, string? DeviceVersion, DateTimeOffset ValidatedAt = default)
    {
        /// <summary>The Patient the Encounter is of (its <c>subject</c>), when there is an Encounter.</summary>
        public string? EncounterPatientId { get; init; }
    }

    /// <summary>The ids Create mode gives a new Patient and Device: upstream's hashes of their identifiers.</summary>
    public static ResourceIds DeterministicIds(string deviceId, string patientId, string? deviceSystem, string? patientSystem = null) =>
        new(ObservationIdentity.Hash(patientSystem, patientId), ObservationIdentity.Hash(deviceSystem, deviceId));

    /// <param name="requirePatient">False with association by measurement time: a Device on no Patient now may still have been on one.</param>
    private async Task<CachedIdentity> LookupAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, bool requirePatient, CancellationToken cancellationToken)
    {
        var device = await FindDeviceAsync(key.DeviceId, ahead, cancellationToken).ConfigureAwait(false)
            ?? throw new TransformException(FhirErrorCodes.DeviceNotFound, "No Device has the measurement's device identifier.");
        var patientId = AssociationTimeline.PatientIdOf(device.Patient?.Reference);
        if (patientId is null && requirePatient)
        {
            throw new TransformException(FhirErrorCodes.PatientNotFound, $"Device/{device.Id} has no patient reference of the form Patient/{{id}}.");
        }

        if (mode == ResourceIdentityMode.LookupWithEncounter && string.IsNullOrEmpty(key.EncounterId))
        {
            throw new TransformException(FhirErrorCodes.EncounterIdentityNotDefined, "LookupWithEncounter needs an encounter id, and the measurement has none.");
        }

        Encounter? encounter = null;
        if (!string.IsNullOrEmpty(key.EncounterId))
        {
            var encounters = await SearchAsync<Encounter>(EncounterSearch(key.EncounterId), ahead, cancellationToken).ConfigureAwait(false);
            encounter = Single(Exact(encounters, null, key.EncounterId), "Encounter", FhirErrorCodes.MultipleEncounterFound)
                ?? throw new TransformException(FhirErrorCodes.EncounterNotFound, "No Encounter has the measurement's encounter identifier.");
        }

        return new CachedIdentity(device.Id!, patientId, encounter?.Id, device.Meta?.VersionId) { EncounterPatientId = AssociationTimeline.PatientIdOf(encounter?.Subject?.Reference) };
    }

    /// <summary>Lookup first; only a missing Device or Patient takes the create path (upstream's order).</summary>
    private async Task<CachedIdentity> CreateAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(key.PatientId))
        {
            throw new TransformException(FhirErrorCodes.PatientIdentityNotDefined, "Create mode needs a patient id, and the measurement has none.");
        }

        // Fast path, in the batch's search-ahead: a Device already linked to the Patient with MedTech's id for the
        // message's patient. A Device linked to anyone else (or to a Patient a server named) takes the full path below,
        // which finds the message's Patient by identifier and refuses a Device linked to another: charting to the
        // Device's patient instead of the message's would put a reading on the wrong patient.
        try
        {
            var found = await LookupAsync(key, ahead, requirePatient: true, cancellationToken).ConfigureAwait(false);
            if (found.PatientId == DeterministicIds(key.DeviceId, key.PatientId, options.DefaultDeviceIdentifierSystem, options.DefaultPatientIdentifierSystem).PatientId)
            {
                return found;
            }
        }
        catch (TransformException ex) when (ex.Code is FhirErrorCodes.DeviceNotFound or FhirErrorCodes.PatientNotFound)
        {
        }

        // Conditional creates (If-None-Exist on the identifier): a writer that lost the race to another one gets the
        // resource the other made, never a second one. Upstream's search-then-PUT to the hashed id made a second one
        // when a resource with the identifier appeared between the two, and its Device PUT replaced the patient link
        // another writer had just made. The hashed id goes along as a wish: a server that keeps client ids on create
        // keeps MedTech's ids, one that assigns its own is found by identifier ever after.
        var patientSystem = options.DefaultPatientIdentifierSystem;
        var ids = DeterministicIds(key.DeviceId, key.PatientId, options.DefaultDeviceIdentifierSystem, patientSystem);
        var patientToken = Token(patientSystem, key.PatientId);
        var patient = Single(Exact(await server.SearchAsync<Patient>($"Patient?identifier={patientToken}", cancellationToken).ConfigureAwait(false), patientSystem, key.PatientId), "Patient", FhirErrorCodes.MultiplePatientFound)
            ?? await CreateOnceAsync(new Patient { Id = ids.PatientId, Identifier = [new Identifier(patientSystem, key.PatientId)] }, patientSystem, key.PatientId, FhirErrorCodes.MultiplePatientFound, cancellationToken).ConfigureAwait(false);
        var reference = $"Patient/{patient.Id}";

        var device = await FindDeviceAsync(key.DeviceId, null, cancellationToken).ConfigureAwait(false)
            ?? await CreateOnceAsync(new Device
            {
                Id = ids.DeviceId,
                Identifier = [new Identifier(options.DefaultDeviceIdentifierSystem, key.DeviceId)],
                Patient = new ResourceReference(reference),
            }, options.DefaultDeviceIdentifierSystem, key.DeviceId, FhirErrorCodes.MultipleDeviceFound, cancellationToken).ConfigureAwait(false);
        if (device.Patient?.Reference is null)
        {
            device = await LinkAsync(device, key.DeviceId, reference, cancellationToken).ConfigureAwait(false);
        }

        if (device.Patient?.Reference != reference)
        {
            throw new TransformException(FhirErrorCodes.PatientDeviceMismatch, $"Device/{device.Id} is linked to another Patient than the measurement names.");
        }

        // The search run ahead no longer says what the server has: another group of this Device searches again.
        ahead?.Remove(DeviceSearch(key.DeviceId));
        return new CachedIdentity(device.Id!, patient.Id!, null, device.Meta?.VersionId);
    }

    /// <summary>
    /// What Create mode would resolve <paramref name="key"/> to, reading only (shadow mode): the Patient and Device
    /// found by identifier, and MedTech's hashed id for whichever is not there yet (the id Create mode would wish for).
    /// A Device linked to another Patient than the message's is refused, as <see cref="CreateAsync"/> refuses it.
    /// </summary>
    /// <exception cref="TransformException">No patient id, several matches, or a Device linked to another Patient.</exception>
    public async Task<ResourceIds> PreviewCreateAsync(MeasurementGroupKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (string.IsNullOrEmpty(key.PatientId))
        {
            throw new TransformException(FhirErrorCodes.PatientIdentityNotDefined, "Create mode needs a patient id, and the measurement has none.");
        }

        var patientSystem = options.DefaultPatientIdentifierSystem;
        var ids = DeterministicIds(key.DeviceId, key.PatientId, options.DefaultDeviceIdentifierSystem, patientSystem);
        var patient = Single(Exact(await server.SearchAsync<Patient>($"Patient?identifier={Token(patientSystem, key.PatientId)}", cancellationToken).ConfigureAwait(false),
            patientSystem, key.PatientId), "Patient", FhirErrorCodes.MultiplePatientFound);
        var reference = $"Patient/{patient?.Id ?? ids.PatientId}";
        var device = await FindDeviceAsync(key.DeviceId, null, cancellationToken).ConfigureAwait(false);
        if (device?.Patient?.Reference is { } linked && linked != reference)
        {
            throw new TransformException(FhirErrorCodes.PatientDeviceMismatch, $"Device/{device.Id} is linked to another Patient than the measurement names.");
        }

        return new ResourceIds(patient?.Id ?? ids.PatientId, device?.Id ?? ids.DeviceId);
    }

    /// <summary>
    /// Creates the resource unless one has its identifier; the one the server holds either way. Several holding it:
    /// <paramref name="multipleCode"/>, as a search would say. A server that matched another identifier (token search
    /// without regard to case) gets the resource put at its hashed id instead, as upstream does, so it is never taken
    /// for that other one; so does a server that answers such a match with 400 because the wished id is not the
    /// matched resource's (Medplum).
    /// </summary>
    private async Task<T> CreateOnceAsync<T>(T resource, string? system, string value, string multipleCode, CancellationToken cancellationToken)
        where T : Resource
    {
        try
        {
            var held = await server.CreateAsync(resource, "identifier=" + Token(system, value), cancellationToken).ConfigureAwait(false);
            return Exact([held], system, value).Count == 1 ? held : await server.PutAsync(resource, null, cancellationToken).ConfigureAwait(false);
        }
        catch (FhirRequestException ex) when (ex.Status == System.Net.HttpStatusCode.PreconditionFailed)
        {
            throw new TransformException(multipleCode, $"Several {resource.TypeName} resources have the measurement's identifier; exactly one is expected.");
        }
        catch (FhirRequestException ex) when (ex.Status == System.Net.HttpStatusCode.BadRequest)
        {
            // The caller's exact search found none, so a match the server made is another identifier (another case).
            // The hashed id is put only while it is free (or holds this identifier): a resource there with another
            // identifier is someone else's, never overwritten. A 400 for any other reason comes back from the PUT.
            var held = await server.SearchAsync<T>($"{resource.TypeName}?_id={resource.Id}", cancellationToken).ConfigureAwait(false);
            return held switch
            {
                [] => await server.PutAsync(resource, null, cancellationToken).ConfigureAwait(false),
                [var same] when Exact([same], system, value).Count == 1 => same,
                _ => throw new TransformException(FhirErrorCodes.IdentityConflict,
                    $"The server matched the measurement's {resource.TypeName} identifier to another one, and the id MedTech gives it is held by another {resource.TypeName}."),
            };
        }
    }

    /// <summary>
    /// Links a Device without a patient to the Patient, only in the version read (If-Match): when another writer linked
    /// it first (412), the Device as it is now decides, so the caller sees a mismatch instead of overwriting that link.
    /// </summary>
    private async Task<Device> LinkAsync(Device device, string deviceId, string reference, CancellationToken cancellationToken)
    {
        device.Patient = new ResourceReference(reference);
        try
        {
            return await server.PutAsync(device, device.Meta?.VersionId is { } version ? $"W/\"{version}\"" : null, cancellationToken).ConfigureAwait(false);
        }
        catch (FhirRequestException ex) when (ex.Status is System.Net.HttpStatusCode.PreconditionFailed or System.Net.HttpStatusCode.Conflict)
        {
            return await FindDeviceAsync(deviceId, null, cancellationToken).ConfigureAwait(false)
                ?? throw new TransformException(FhirErrorCodes.DeviceNotFound, "The Device was removed while it was being linked to the Patient.");
        }
    }

    private async Task<Device?> FindDeviceAsync(string deviceId, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken) =>
        Single(Exact(await SearchAsync<Device>(DeviceSearch(deviceId), ahead, cancellationToken).ConfigureAwait(false), options.DefaultDeviceIdentifierSystem, deviceId), "Device", FhirErrorCodes.MultipleDeviceFound);

    /// <summary>A search, from <paramref name="ahead"/> when it was run ahead, else now.</summary>
    private async Task<IReadOnlyList<T>> SearchAsync<T>(string query, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
        where T : Resource => ahead is not null && ahead.TryGetValue(query, out var found)
            ? found.OfType<T>().ToList()
            : await server.SearchAsync<T>(query, cancellationToken).ConfigureAwait(false);

    private string DeviceSearch(string deviceId) => $"Device?identifier={Token(options.DefaultDeviceIdentifierSystem, deviceId)}";

    private static string EncounterSearch(string encounterId) => $"Encounter?identifier={Token(null, encounterId)}";

    /// <summary>
    /// The found resources whose identifier is exactly <paramref name="value"/> (and <paramref name="system"/> when
    /// given): servers may match a token without regard to case (Medplum does), and <c>MON-X</c> is not <c>mon-x</c>.
    /// </summary>
    private static List<T> Exact<T>(IReadOnlyList<T> found, string? system, string value)
        where T : Resource => [.. found.Where(resource => (resource switch
        {
            Patient p => p.Identifier,
            Device d => d.Identifier,
            Encounter e => e.Identifier,
            _ => [],
        }).Any(i => string.Equals(i.Value, value, StringComparison.Ordinal) && (system is null || string.Equals(i.System, system, StringComparison.Ordinal))))];

    private static T? Single<T>(IReadOnlyList<T> found, string type, string multipleCode)
        where T : Resource => found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new TransformException(multipleCode, $"{found.Count} {type} resources have the measurement's identifier; exactly one is expected."),
        };

    /// <summary>A token search value: <c>system|value</c>, with FHIR's search escapes, URL-encoded.</summary>
    private static string Token(string? system, string value)
    {
        static string Escape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal)
            .Replace(",", "\\,", StringComparison.Ordinal).Replace("$", "\\$", StringComparison.Ordinal);
        return Uri.EscapeDataString(system is null ? Escape(value) : $"{Escape(system)}|{Escape(value)}");
    }

    public void Dispose() => cache.Dispose();
}
