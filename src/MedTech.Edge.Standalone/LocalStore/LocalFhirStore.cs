using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using LiteDB;
using MedTech.Edge.Buffer;

namespace MedTech.Edge.Standalone.LocalStore;

/// <summary>
/// A FHIR resource store in one LiteDB file, for the one-process run with no FHIR server: an
/// <see cref="HttpMessageHandler"/> that answers the requests the writer sends (read and update by id with versions
/// and If-Match, create with If-None-Exist, <c>identifier</c> search of the resources it looks up, batch bundles), so
/// the writer's code path is the one it runs against a real server. Not a FHIR server: no validation, no other search,
/// only the current version of each resource; <see cref="ExportNdjson"/> gives everything as NDJSON.
/// </summary>
public sealed partial class LocalFhirStore : HttpMessageHandler
{
    /// <summary>The base address clients of this store use.</summary>
    public static readonly Uri BaseAddress = new("http://localhost/local-fhir/");

    /// <summary>
    /// Longest identifier key indexed as it is. LiteDB refuses index keys of 1,023 bytes and more, and a device can
    /// send an id of any length: longer keys are indexed by their SHA-256, and a search compares the stored
    /// identifiers exactly, so lookups stay exact.
    /// </summary>
    private const int MaxPlainKeyBytes = 256;

    /// <summary>Largest resource stored: LiteDB documents end at about 16 MB; a larger one is refused with 413, as a server would.</summary>
    private const int MaxResourceBytes = 8 * 1024 * 1024;

    /// <summary>
    /// The types searched by identifier: the writer looks up Patients, Devices and Encounters, never Observations or
    /// Provenance. Indexing only these keeps the identifier index off the write path of every Observation (two index
    /// keys per identifier were a fifth of a batch's time); a search of another type is refused, not answered empty.
    /// </summary>
    private static readonly HashSet<string> SearchableTypes = ["Patient", "Device", "Encounter"];

    /// <summary>How often, at most, resources older than the retention are removed (while writing).</summary>
    private static readonly TimeSpan PurgeInterval = TimeSpan.FromMinutes(10);

    private readonly BufferFiles files;
    private readonly LiteDatabase db;
    private readonly ILiteCollection<BsonDocument> resources;
    private readonly TimeSpan retention;
    private readonly TimeProvider time;
    private readonly Lock gate = new();
    private DateTimeOffset lastPurge = DateTimeOffset.MinValue;
    private bool unsynced;

    /// <param name="path">The LiteDB file (created 0600 in a 0700 folder).</param>
    /// <param name="retention">
    /// Resources other than Patients and Devices not updated for this long are removed, so the file of a gateway that
    /// runs for months stays bounded; <see cref="TimeSpan.Zero"/> keeps everything.
    /// </param>
    /// <param name="time">The clock of <c>meta.lastUpdated</c> and of the retention.</param>
    public LocalFhirStore(string path, TimeSpan retention = default, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(retention, TimeSpan.Zero);
        this.retention = retention;
        this.time = time ?? TimeProvider.System;
        // The Observations hold patient references: private like the buffer (0600 files in a 0700 folder). The log is
        // synced once per request, after its commit, not once per page (see BufferFiles).
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        files = BufferFiles.Open(path, BufferFiles.OpenFile, deferLogSync: true);
        try
        {
            db = new LiteDatabase(files.Data, logStream: files.Log);
        }
        catch
        {
            files.Dispose();
            throw;
        }

        resources = db.GetCollection("resources");
        resources.EnsureIndex("identifiers", "$.identifiers[*]");
        resources.EnsureIndex("updated");
        lock (gate)
        {
            PurgeIfDue();
        }
    }

    /// <summary>Writes every stored resource, one JSON object per line, ordered by type and id; returns how many.</summary>
    public int ExportNdjson(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var count = 0;
        lock (gate)
        {
            foreach (var document in resources.Query().OrderBy("_id").ToEnumerable())
            {
                output.WriteLine(document["json"].AsString);
                count++;
            }
        }

        return count;
    }

    /// <summary>How many resources of a type the store holds.</summary>
    public int Count(string type)
    {
        lock (gate)
        {
            return resources.Count(Query.StartsWith("_id", Key(type, "")));
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var path = request.RequestUri!.PathAndQuery[BaseAddress.AbsolutePath.Length..];
        var ifMatch = request.Headers.TryGetValues("If-Match", out var values) ? values.FirstOrDefault() : null;
        var ifNoneExist = request.Headers.TryGetValues("If-None-Exist", out var conditions) ? conditions.FirstOrDefault() : null;
        var minimal = request.Headers.TryGetValues("Prefer", out var prefer) && prefer.Contains("return=minimal");
        lock (gate)
        {
            HttpStatusCode status;
            JsonObject? resource;
            string? version;
            try
            {
                var json = body is null ? null : ParseObject(body);
                (status, resource, version) = request.Method.Method switch
                {
                    _ when body is not null && json is null => (HttpStatusCode.BadRequest, Outcome("The body is not a JSON object."), null),
                    "POST" when path.Length == 0 && json is not null => Batch(json, minimal) is { } answer
                        ? (HttpStatusCode.OK, answer, null)
                        : (HttpStatusCode.BadRequest, Outcome("A batch needs an array of entries."), null),
                    "GET" or "PUT" or "POST" => Handle(request.Method.Method, path, json, ifMatch, ifNoneExist),
                    _ => (HttpStatusCode.MethodNotAllowed, Outcome("Not supported by the local store."), null),
                };
            }
            catch (IOException)
            {
                // A full disk, say: the store is unavailable, not the data wrong, so the writer keeps the batch and retries.
                (status, resource, version) = (HttpStatusCode.ServiceUnavailable, Outcome("The local store cannot write its file."), null);
            }

            if (!Durable())
            {
                (status, resource, version) = (HttpStatusCode.ServiceUnavailable, Outcome("The local store cannot write its file."), null);
            }

            var response = new HttpResponseMessage(status)
            {
                Content = new StringContent(resource?.ToJsonString() ?? "", Encoding.UTF8, "application/fhir+json"),
            };
            if (version is not null)
            {
                response.Headers.ETag = new System.Net.Http.Headers.EntityTagHeaderValue($"\"{version}\"", isWeak: true);
            }

            return response;
        }
    }

    /// <summary>
    /// A batch in one LiteDB transaction: a write per entry, each its own transaction, kept the store at about 450
    /// Observations/s. Entries still succeed or fail on their own (a batch, not a FHIR transaction); only an I/O
    /// failure undoes the whole bundle, and the writer then retries all of it.
    /// </summary>
    private JsonObject? Batch(JsonObject bundle, bool minimal)
    {
        if (bundle["entry"] is not (null or JsonArray))
        {
            return null;
        }

        db.BeginTrans();
        try
        {
            var response = BatchEntries(bundle, minimal);
            PurgeIfDue();
            db.Commit();
            return response;
        }
        catch
        {
            // On a failed disk the rollback may fail too; the store answers 503 for the first failure either way.
            try
            {
                db.Rollback();
            }
            catch (IOException)
            {
            }

            throw;
        }
    }

    private JsonObject BatchEntries(JsonObject bundle, bool minimal)
    {
        var entries = new JsonArray();
        foreach (var entry in bundle["entry"]?.AsArray() ?? [])
        {
            var request = entry?["request"] as JsonObject;
            var (status, resource, version) = Text(request?["method"]) is { } method && Text(request?["url"]) is { } url && entry!["resource"] is null or JsonObject
                ? Handle(method, url, (JsonObject?)entry["resource"]?.DeepClone(), Text(request!["ifMatch"]), Text(request["ifNoneExist"]))
                : (HttpStatusCode.BadRequest, Outcome("An entry needs request.method and request.url, and a resource that is a JSON object."), null);
            using var phrase = new HttpResponseMessage(status);
            var response = new JsonObject { ["status"] = $"{(int)status} {phrase.ReasonPhrase}" };
            if (version is not null)
            {
                response["etag"] = $"W/\"{version}\"";
            }

            var result = new JsonObject { ["response"] = response };
            if ((int)status >= 400)
            {
                response["outcome"] = resource;
            }
            else if (!minimal)
            {
                result["resource"] = resource;
            }

            entries.Add(result);
        }

        return new JsonObject { ["resourceType"] = "Bundle", ["type"] = "batch-response", ["entry"] = entries };
    }

    private (HttpStatusCode Status, JsonObject? Resource, string? Version) Handle(string method, string url, JsonObject? resource, string? ifMatch, string? ifNoneExist)
    {
        var query = url.IndexOf('?', StringComparison.Ordinal);
        if (method == "GET" && query > 0)
        {
            return SearchableTypes.Contains(url[..query])
                ? (HttpStatusCode.OK, Search(url[..query], url[(query + 1)..]), null)
                : (HttpStatusCode.BadRequest, Outcome("The local store searches Patients, Devices and Encounters by identifier only."), null);
        }

        if (method == "POST" && resource is not null && url.Length is > 0 and <= 64 && !url.Contains('/', StringComparison.Ordinal))
        {
            return ifNoneExist is null || SearchableTypes.Contains(url)
                ? Create(url, resource, ifNoneExist)
                : (HttpStatusCode.BadRequest, Outcome("If-None-Exist: the local store searches Patients, Devices and Encounters only."), null);
        }

        var parts = url.Split('/');
        // FHIR ids have at most 64 characters; the store's primary key is built from them.
        if (parts.Length != 2 || parts[0].Length is 0 or > 64 || parts[1].Length is 0 or > 64)
        {
            return (HttpStatusCode.BadRequest, Outcome("Expected {type}/{id} with an id of at most 64 characters."), null);
        }

        var stored = resources.FindById(Key(parts[0], parts[1]));
        if (method == "GET")
        {
            return stored is null
                ? (HttpStatusCode.NotFound, Outcome("Not found."), null)
                : (HttpStatusCode.OK, JsonNode.Parse(stored["json"].AsString)!.AsObject(), stored["version"].AsInt32.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (method != "PUT" || resource is null)
        {
            return (HttpStatusCode.MethodNotAllowed, Outcome("Only GET, PUT, POST (create) and batch are supported."), null);
        }

        var current = stored?["version"].AsInt32 ?? 0;
        if (ifMatch is not null && ifMatch.Replace("W/", "", StringComparison.Ordinal).Trim('"') != current.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            return (HttpStatusCode.PreconditionFailed, Outcome("The resource changed since it was read."), null);
        }

        var written = Store(parts[0], parts[1], current + 1, resource, exists: stored is not null);
        return written ?? (stored is null ? HttpStatusCode.Created : HttpStatusCode.OK, resource, (current + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// <c>POST {type}</c>; with <c>If-None-Exist: identifier=...</c> the one match is returned instead (200), and two or
    /// more matches are refused (412), as FHIR's conditional create says. The store handles one request at a time, so
    /// two writers creating one Patient get one. The client's id is kept when it is free (Create mode's hashed ids,
    /// so the local store shows MedTech's ids), else the store gives one.
    /// </summary>
    private (HttpStatusCode Status, JsonObject? Resource, string? Version) Create(string type, JsonObject resource, string? ifNoneExist)
    {
        if (ifNoneExist is not null && (!ifNoneExist.StartsWith("identifier=", StringComparison.Ordinal) || ifNoneExist.Length == "identifier=".Length))
        {
            // Ignoring a condition it cannot evaluate would make the duplicate the condition is there to prevent.
            return (HttpStatusCode.BadRequest, Outcome("If-None-Exist: the local store evaluates identifier=[system|]value only."), null);
        }

        if (ifNoneExist is not null)
        {
            var matches = Search(type, ifNoneExist)["entry"]!.AsArray();
            if (matches.Count > 1)
            {
                return (HttpStatusCode.PreconditionFailed, Outcome("More than one resource matches the condition."), null);
            }

            if (matches.Count == 1)
            {
                var found = matches[0]!["resource"]!.DeepClone().AsObject();
                return (HttpStatusCode.OK, found, found["meta"]?["versionId"]?.GetValue<string>());
            }
        }

        var id = Text(resource["id"]) is { } wish && FhirId().IsMatch(wish) && resources.FindById(Key(type, wish)) is null
            ? wish
            : Guid.NewGuid().ToString("D");
        return Store(type, id, 1, resource, exists: false) ?? (HttpStatusCode.Created, resource, "1");
    }

    /// <summary>
    /// Stores the resource as that version; a refusal, or null when stored. The caller has just looked the id up, so
    /// this inserts or updates rather than upserting (which looks it up again).
    /// </summary>
    private (HttpStatusCode Status, JsonObject? Resource, string? Version)? Store(string type, string id, int version, JsonObject resource, bool exists)
    {
        var now = time.GetUtcNow();
        resource["id"] = id;
        resource["meta"] = new JsonObject
        {
            ["versionId"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["lastUpdated"] = now.ToString("o", System.Globalization.CultureInfo.InvariantCulture),
        };
        var json = resource.ToJsonString();
        if (Encoding.UTF8.GetByteCount(json) > MaxResourceBytes)
        {
            return (HttpStatusCode.RequestEntityTooLarge, Outcome("The resource is larger than the local store keeps."), null);
        }

        unsynced = true;
        var document = new BsonDocument
        {
            ["_id"] = Key(type, id),
            ["type"] = type,
            ["version"] = version,
            ["updated"] = now.UtcDateTime,
            ["json"] = json,
        };
        if (SearchableTypes.Contains(type))
        {
            document["identifiers"] = new BsonArray(Identifiers(type, resource).Select(i => new BsonValue(IndexKey(i))).Distinct());
        }

        if (exists)
        {
            resources.Update(document);
        }
        else
        {
            resources.Insert(document);
        }

        return null;
    }

    /// <summary>
    /// Removes what the retention no longer keeps. Patients and Devices stay: the next reading of a device needs them,
    /// and they are few. Documents from before the store kept <c>updated</c> stay too.
    /// </summary>
    private void PurgeIfDue()
    {
        var now = time.GetUtcNow();
        if (retention == TimeSpan.Zero || now - lastPurge < PurgeInterval)
        {
            return;
        }

        lastPurge = now;
        // "updated > @1" leaves out documents without it (null sorts below every date in LiteDB).
        resources.DeleteMany(BsonExpression.Create(
            "updated < @0 AND updated > @1 AND type != 'Patient' AND type != 'Device'", new BsonValue((now - retention).UtcDateTime), new BsonValue(DateTime.MinValue)));
    }

    /// <summary><c>Type?identifier=[system|]value</c>: a value alone matches any system (FHIR token search).</summary>
    private JsonObject Search(string type, string query)
    {
        var token = query.Split('&').Select(p => p.Split('=', 2)).Where(p => p[0] == "identifier" && p.Length == 2).Select(p => Uri.UnescapeDataString(p[1])).FirstOrDefault();
        var entries = new JsonArray();
        if (token is not null)
        {
            var separator = UnescapedBar(token);
            var key = separator < 0 ? $"{type}|*|{Unescape(token)}" : $"{type}|{Unescape(token[..separator])}|{Unescape(token[(separator + 1)..])}";
            foreach (var document in resources.Find(BsonExpression.Create("$.identifiers[*] ANY = @0", new BsonValue(IndexKey(key)))))
            {
                // A hashed key matched: compare the identifiers themselves, so the search stays exact.
                var found = JsonNode.Parse(document["json"].AsString)!.AsObject();
                if (Identifiers(type, found).Contains(key))
                {
                    entries.Add(new JsonObject { ["resource"] = found });
                }
            }
        }

        return new JsonObject { ["resourceType"] = "Bundle", ["type"] = "searchset", ["total"] = entries.Count, ["entry"] = entries };
    }

    /// <summary>
    /// The primary key of a resource. LiteDB compares strings ignoring case (its default collation, fixed when a file is
    /// made), and FHIR ids are case-sensitive: <c>Patient/abc</c> and <c>Patient/ABC</c> are two patients. Each capital
    /// is written as <c>^</c> and its small letter (<c>^</c> is not in a FHIR id), so no two ids share a key. Ids
    /// without capitals, such as the writer's hashed ids, keep the key they had.
    /// </summary>
    private static string Key(string type, string id) => $"{type}/{CaseProof().Replace(id, m => "^" + m.Value.ToLowerInvariant())}";

    [System.Text.RegularExpressions.GeneratedRegex("[A-Z]")]
    private static partial System.Text.RegularExpressions.Regex CaseProof();

    private static IEnumerable<string> Identifiers(string type, JsonObject resource)
    {
        foreach (var identifier in resource["identifier"]?.AsArray() ?? [])
        {
            var value = identifier?["value"]?.GetValue<string>();
            if (value is not null)
            {
                yield return $"{type}|*|{value}";
                yield return $"{type}|{identifier!["system"]?.GetValue<string>() ?? ""}|{value}";
            }
        }
    }

    private static string IndexKey(string key) => Encoding.UTF8.GetByteCount(key) <= MaxPlainKeyBytes
        ? key
        : "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static int UnescapedBar(string token)
    {
        for (var i = 0; i < token.Length; i++)
        {
            if (token[i] == '\\')
            {
                i++;
            }
            else if (token[i] == '|')
            {
                return i;
            }
        }

        return -1;
    }

    private static string Unescape(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"\\(.)", "$1");

    private static JsonObject? ParseObject(string body)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static string? Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z0-9\-\.]{1,64}$")]
    private static partial System.Text.RegularExpressions.Regex FhirId();

    private static JsonObject Outcome(string text) => new()
    {
        ["resourceType"] = "OperationOutcome",
        ["issue"] = new JsonArray(new JsonObject { ["severity"] = "error", ["code"] = "processing", ["diagnostics"] = text }),
    };

    /// <summary>
    /// Syncs the log the request's commit wrote; false when a write of this store has failed. A failed log write is
    /// latched by <see cref="BufferFiles"/> (LiteDB's log writer cannot survive one) and the store answers 503 from
    /// then on, so the writer keeps its batch; a restart opens the file again.
    /// </summary>
    private bool Durable()
    {
        // The writer's read-ahead is a batch of GETs: nothing to sync.
        if (unsynced)
        {
            unsynced = false;
            files.FlushLog();
        }

        return files.Failure is null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            db.Dispose();
            files.FlushLog();
            files.Dispose();
        }

        base.Dispose(disposing);
    }
}
