using System.Text.RegularExpressions;
using Hl7.Fhir.Model;
using MedTech.Edge.Fhir.Observations;
using MedTech.Edge.Fhir.Server;
using MedTech.Edge.Mapping.Grouping;
using Microsoft.Extensions.Caching.Memory;

namespace MedTech.Edge.Fhir.Identity;

/// <summary>
/// Finds (or in Create mode makes) the Patient, Device and Encounter a measurement group belongs to, as MedTech's
/// identity services do, and reports failures with MedTech's error names. Results are cached per device, patient
/// and encounter id (upstream keys by device alone and so misses a device moved to another patient); failures
/// are not cached.
/// </summary>
public sealed partial class IdentityResolver : IDisposable
{
    private readonly FhirServerClient server;
    private readonly ResourceIdentityOptions options;
    private readonly ResourceIdentityMode mode;
    private readonly MemoryCache cache;

    public IdentityResolver(FhirServerClient server, ResourceIdentityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.server = server;
        this.options = options;
        mode = options.Mode;
        cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.CacheSize });
    }

    /// <summary>The ids for the group, or a <see cref="TransformException"/> with the reason.</summary>
    public Task<ResourceIds> ResolveAsync(MeasurementGroupKey key, CancellationToken cancellationToken) => ResolveAsync(key, null, cancellationToken);

    /// <summary>As <see cref="ResolveAsync(MeasurementGroupKey, CancellationToken)"/>, taking the key's searches from <paramref name="ahead"/> when they are there.</summary>
    /// <param name="ahead">This batch's <see cref="SearchAheadAsync"/>; Create mode drops a Device's search from it once it has made or linked that Device.</param>
    public async Task<ResourceIds> ResolveAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (cache.TryGetValue(CacheKey(key), out ResourceIds? cached) && cached is not null)
        {
            return cached;
        }

        var ids = mode == ResourceIdentityMode.Create
            ? await CreateAsync(key, ahead, cancellationToken).ConfigureAwait(false)
            : await LookupAsync(key, ahead, cancellationToken).ConfigureAwait(false);
        cache.Set(CacheKey(key), ids, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = options.CacheExpiry });
        return ids;
    }

    /// <summary>
    /// Runs the Device and Encounter searches of the keys that are not cached as batch bundles of searches: a batch
    /// from many devices the writer has not seen yet (after a start, or once the cache expired) costs a request per
    /// <paramref name="maxPerBundle"/> searches instead of a round trip each before anything is written. The results
    /// are by query; a search the bundle could not answer in one page is left out, and
    /// <see cref="ResolveAsync(MeasurementGroupKey, Dictionary{string, IReadOnlyList{Resource}}?, CancellationToken)"/>
    /// then runs it as usual, with the usual errors.
    /// </summary>
    public async Task<Dictionary<string, IReadOnlyList<Resource>>> SearchAheadAsync(IEnumerable<MeasurementGroupKey> keys, int maxPerBundle, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, IReadOnlyList<Resource>>();
        var queries = keys.Where(k => !cache.TryGetValue(CacheKey(k), out _))
            .SelectMany(k => string.IsNullOrEmpty(k.EncounterId) ? [DeviceSearch(k.DeviceId)] : new[] { DeviceSearch(k.DeviceId), EncounterSearch(k.EncounterId) })
            .Distinct()
            .ToList();
        if (queries.Count < 2)
        {
            // One search alone is one request either way.
            return found;
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
                return found;
            }

            for (var i = 0; i < chunk.Length; i++)
            {
                if (FhirServerClient.Status(entries[i]?.Response?.Status) == 200 && entries[i]!.Resource is Bundle { NextLink: null } page)
                {
                    found[chunk[i]] = page.Entry.Select(e => e.Resource).OfType<Resource>().ToList();
                }
            }
        }

        return found;
    }

    private static (string DeviceId, string? PatientId, string? EncounterId) CacheKey(MeasurementGroupKey key) => (key.DeviceId, key.PatientId, key.EncounterId);

    /// <summary>The ids Create mode gives a new Patient and Device: upstream's hashes of their identifiers.</summary>
    public static ResourceIds DeterministicIds(string deviceId, string patientId, string? deviceSystem) =>
        new(ObservationIdentity.Hash(null, patientId), ObservationIdentity.Hash(deviceSystem, deviceId));

    private async Task<ResourceIds> LookupAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        var device = await FindDeviceAsync(key.DeviceId, ahead, cancellationToken).ConfigureAwait(false)
            ?? throw new TransformException(FhirErrorCodes.DeviceNotFound, "No Device has the measurement's device identifier.");
        var patientId = PatientIdOf(device)
            ?? throw new TransformException(FhirErrorCodes.PatientNotFound, $"Device/{device.Id} has no patient reference of the form Patient/{{id}}.");
        if (mode == ResourceIdentityMode.LookupWithEncounter && string.IsNullOrEmpty(key.EncounterId))
        {
            throw new TransformException(FhirErrorCodes.EncounterIdentityNotDefined, "LookupWithEncounter needs an encounter id, and the measurement has none.");
        }

        string? encounterId = null;
        if (!string.IsNullOrEmpty(key.EncounterId))
        {
            var encounters = await SearchAsync<Encounter>(EncounterSearch(key.EncounterId), ahead, cancellationToken).ConfigureAwait(false);
            encounterId = Single(encounters, "Encounter", FhirErrorCodes.MultipleEncounterFound)?.Id
                ?? throw new TransformException(FhirErrorCodes.EncounterNotFound, "No Encounter has the measurement's encounter identifier.");
        }

        return new ResourceIds(patientId, device.Id!, encounterId);
    }

    /// <summary>Lookup first; only a missing Device or Patient takes the create path (upstream's order).</summary>
    private async Task<ResourceIds> CreateAsync(MeasurementGroupKey key, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
    {
        try
        {
            return await LookupAsync(key, ahead, cancellationToken).ConfigureAwait(false);
        }
        catch (TransformException ex) when (ex.Code is FhirErrorCodes.DeviceNotFound or FhirErrorCodes.PatientNotFound)
        {
        }

        if (string.IsNullOrEmpty(key.PatientId))
        {
            throw new TransformException(FhirErrorCodes.PatientIdentityNotDefined, "Create mode needs a patient id, and the measurement has none.");
        }

        var ids = DeterministicIds(key.DeviceId, key.PatientId, options.DefaultDeviceIdentifierSystem);
        var patients = await server.SearchAsync<Patient>($"Patient?identifier={Token(null, key.PatientId)}", cancellationToken).ConfigureAwait(false);
        var patient = Single(patients, "Patient", FhirErrorCodes.MultiplePatientFound)
            ?? await server.PutAsync(new Patient { Id = ids.PatientId, Identifier = [new Identifier { Value = key.PatientId }] }, null, cancellationToken).ConfigureAwait(false);
        var reference = $"Patient/{patient.Id}";

        var device = await FindDeviceAsync(key.DeviceId, null, cancellationToken).ConfigureAwait(false);
        if (device is null)
        {
            device = new Device
            {
                Id = ids.DeviceId,
                Identifier = [new Identifier(options.DefaultDeviceIdentifierSystem, key.DeviceId)],
                Patient = new ResourceReference(reference),
            };
            await server.PutAsync(device, null, cancellationToken).ConfigureAwait(false);
        }
        else if (device.Patient?.Reference is null)
        {
            device.Patient = new ResourceReference(reference);
            await server.PutAsync(device, device.Meta?.VersionId is { } version ? $"W/\"{version}\"" : null, cancellationToken).ConfigureAwait(false);
        }
        else if (device.Patient.Reference != reference)
        {
            throw new TransformException(FhirErrorCodes.PatientDeviceMismatch, $"Device/{device.Id} is linked to another Patient than the measurement names.");
        }

        // The search run ahead no longer says what the server has: another group of this Device searches again.
        ahead?.Remove(DeviceSearch(key.DeviceId));
        return new ResourceIds(patient.Id!, device.Id!);
    }

    private async Task<Device?> FindDeviceAsync(string deviceId, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken) =>
        Single(await SearchAsync<Device>(DeviceSearch(deviceId), ahead, cancellationToken).ConfigureAwait(false), "Device", FhirErrorCodes.MultipleDeviceFound);

    /// <summary>A search, from <paramref name="ahead"/> when it was run ahead, else now.</summary>
    private async Task<IReadOnlyList<T>> SearchAsync<T>(string query, Dictionary<string, IReadOnlyList<Resource>>? ahead, CancellationToken cancellationToken)
        where T : Resource => ahead is not null && ahead.TryGetValue(query, out var found)
            ? found.OfType<T>().ToList()
            : await server.SearchAsync<T>(query, cancellationToken).ConfigureAwait(false);

    private string DeviceSearch(string deviceId) => $"Device?identifier={Token(options.DefaultDeviceIdentifierSystem, deviceId)}";

    private static string EncounterSearch(string encounterId) => $"Encounter?identifier={Token(null, encounterId)}";

    private static T? Single<T>(IReadOnlyList<T> found, string type, string multipleCode)
        where T : Resource => found.Count switch
        {
            0 => null,
            1 => found[0],
            _ => throw new TransformException(multipleCode, $"{found.Count} {type} resources have the measurement's identifier; exactly one is expected."),
        };

    /// <summary>The Patient id of a relative <c>Patient/{id}</c> reference (upstream's accepted characters), else null.</summary>
    private static string? PatientIdOf(Device device) =>
        device.Patient?.Reference is { } reference && PatientReference().Match(reference) is { Success: true } match ? match.Groups[1].Value : null;

    /// <summary>A token search value: <c>system|value</c>, with FHIR's search escapes, URL-encoded.</summary>
    private static string Token(string? system, string value)
    {
        static string Escape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal)
            .Replace(",", "\\,", StringComparison.Ordinal).Replace("$", "\\$", StringComparison.Ordinal);
        return Uri.EscapeDataString(system is null ? Escape(value) : $"{Escape(system)}|{Escape(value)}");
    }

    [GeneratedRegex(@"^Patient/([A-Za-z0-9_.\-~#]+)$")]
    private static partial Regex PatientReference();

    public void Dispose() => cache.Dispose();
}
