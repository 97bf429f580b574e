using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Hl7.Fhir.Model;
using Task = System.Threading.Tasks.Task;
using MedTech.Edge.Transform;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Polly;

namespace MedTech.Edge.Persist.Server;

/// <summary>
/// The few FHIR interactions the writer needs (search, read, PUT, batch), over one <see cref="HttpClient"/> whose
/// base address is the FHIR base URL. Transient failures (network, timeout, 408, 429, 5xx) are retried through Polly
/// with capped, jittered exponential backoff (honouring Retry-After); other failures throw <see cref="FhirRequestException"/>.
/// </summary>
public sealed partial class FhirServerClient(HttpClient http, FhirServerOptions options, ILogger<FhirServerClient> logger, TimeProvider? timeProvider = null)
{
    private const string FhirJsonType = "application/fhir+json";
    private readonly ResiliencePipeline<HttpResponseMessage> retries = Retries(options, logger, timeProvider ?? TimeProvider.System);
    private long requests;

    /// <summary>An HttpClient for the options' server: base address, authentication; timeouts are per request here.</summary>
    /// <param name="credential">A credential instead of the one the options name (tests).</param>
    public static HttpClient CreateHttpClient(FhirServerOptions options, Azure.Core.TokenCredential? credential = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var url = options.Url ?? throw new ArgumentException($"{FhirServerOptions.SectionName}:Url is required.", nameof(options));
        var handler = new FhirAuthenticationHandler(options, credential) { InnerHandler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) } };
        return new HttpClient(handler)
        {
            BaseAddress = url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>HTTP requests sent, retries included (for benchmarks and metrics).</summary>
    public long RequestCount => Interlocked.Read(ref requests);

    /// <summary>A search such as <c>Device?identifier=x</c>; every page is followed and the matches returned.</summary>
    public async Task<IReadOnlyList<T>> SearchAsync<T>(string query, CancellationToken cancellationToken)
        where T : Resource
    {
        var found = new List<T>();
        for (var next = query; next is not null;)
        {
            var page = Read<Bundle>(await SendAsync(HttpMethod.Get, next, null, null, cancellationToken).ConfigureAwait(false));
            found.AddRange(page.Entry.Select(e => e.Resource).OfType<T>());
            next = NextPage(page);
        }

        return found;
    }

    /// <summary>
    /// A history such as <c>Device/x/_history</c>, every page: each version with its <c>meta.lastUpdated</c>, and each
    /// deletion as a null version with the time the server gives it (<c>response.lastModified</c>).
    /// </summary>
    public async Task<IReadOnlyList<(T? Version, DateTimeOffset? Time)>> HistoryAsync<T>(string path, CancellationToken cancellationToken)
        where T : Resource
    {
        var found = new List<(T?, DateTimeOffset?)>();
        for (var next = path; next is not null;)
        {
            var page = Read<Bundle>(await SendAsync(HttpMethod.Get, next, null, null, cancellationToken).ConfigureAwait(false));
            foreach (var entry in page.Entry)
            {
                if (entry.Resource is T version)
                {
                    found.Add((version, version.Meta?.LastUpdated));
                }
                else if (entry.Request?.Method == Bundle.HTTPVerb.DELETE)
                {
                    found.Add((null, entry.Response?.LastModified));
                }
            }

            next = NextPage(page);
        }

        return found;
    }

    /// <summary>PUT the resource at its id; with <paramref name="ifMatch"/> the server refuses (412) a stale version.</summary>
    public async Task<T> PutAsync<T>(T resource, string? ifMatch, CancellationToken cancellationToken)
        where T : Resource
    {
        ArgumentNullException.ThrowIfNull(resource);
        var json = await SendAsync(HttpMethod.Put, $"{resource.TypeName}/{resource.Id}", FhirJson.SerializeToUtf8Bytes(resource), ifMatch, cancellationToken).ConfigureAwait(false);
        return Read<T>(json);
    }

    /// <summary>
    /// A conditional create: POST with <c>If-None-Exist</c> (a search such as <c>identifier=system|value</c>). The server
    /// creates the resource only when nothing matches, atomically, and otherwise answers with the one match (412 when
    /// several match): two writers creating one identifier at once get one resource. Retrying it is safe for the same
    /// reason. The id in <paramref name="resource"/> is a wish: a server may keep it or assign its own.
    /// </summary>
    public async Task<T> CreateAsync<T>(T resource, string ifNoneExist, CancellationToken cancellationToken)
        where T : Resource
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentException.ThrowIfNullOrEmpty(ifNoneExist);
        var json = await SendAsync(HttpMethod.Post, resource.TypeName, FhirJson.SerializeToUtf8Bytes(resource), null, cancellationToken, ifNoneExist: ifNoneExist).ConfigureAwait(false);
        return Read<T>(json);
    }

    /// <summary>Sends a batch (or transaction) bundle; each entry's own status is in the response bundle.</summary>
    public async Task<Bundle> BatchAsync(Bundle bundle, CancellationToken cancellationToken) =>
        Read<Bundle>(await SendAsync(HttpMethod.Post, "", FhirJson.SerializeToUtf8Bytes(bundle), null, cancellationToken).ConfigureAwait(false));

    /// <summary>GETs the URLs (reads or searches) with one batch bundle; each URL's response entry, in order (null if the server left it out).</summary>
    public async Task<IReadOnlyList<Bundle.EntryComponent?>> GetBatchAsync(IReadOnlyList<string> urls, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(urls);
        var bundle = new Bundle { Type = Bundle.BundleType.Batch };
        bundle.Entry.AddRange(urls.Select(url => new Bundle.EntryComponent { Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.GET, Url = url } }));
        var response = await BatchAsync(bundle, cancellationToken).ConfigureAwait(false);
        return urls.Select((_, i) => i < response.Entry.Count ? response.Entry[i] : null).ToList();
    }

    /// <summary>
    /// Sends a batch of writes with <c>Prefer: return=minimal</c> and reads back only each entry's status, version
    /// (echoed resource's meta, else ETag) and outcome text: for SampledData the resources are large, and the
    /// caller already holds what it sent.
    /// </summary>
    public async Task<IReadOnlyList<BatchEntryResult>> WriteBatchAsync(Bundle bundle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var text = await SendAsync(HttpMethod.Post, "", FhirJson.SerializeToUtf8Bytes(bundle), null, cancellationToken, minimal: true).ConfigureAwait(false);
        using var json = IsJson(text) is { } document ? document : throw NotJson();
        var results = new List<BatchEntryResult>();
        if (json.RootElement.TryGetProperty("entry", out var entries))
        {
            foreach (var entry in entries.EnumerateArray())
            {
                var response = entry.TryGetProperty("response", out var r) ? r : default;
                results.Add(new BatchEntryResult(Status(Text(response, "status")), VersionOf(entry, response), OutcomeText(response)));
            }
        }

        return results;
    }

    /// <summary>
    /// The resource in a success response. A body that is not JSON at all (a proxy's or gateway's HTML page with 200)
    /// says nothing about the data sent: it counts as the server being unavailable, so the batch is kept and retried
    /// instead of its groups being failed one by one. A JSON body Firely cannot read stays the caller's error.
    /// </summary>
    private static T Read<T>(string text)
        where T : Resource
    {
        try
        {
            return FhirJson.Deserialize<T>(text);
        }
        catch (Exception ex) when (!LooksLikeJson(text))
        {
            throw NotJson(ex);
        }
    }

    private static bool LooksLikeJson(string text)
    {
        using var document = IsJson(text);
        return document is not null;
    }

    private static JsonDocument? IsJson(string text)
    {
        try
        {
            return JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static FhirServerUnavailableException NotJson(Exception? inner = null) =>
        new("The FHIR server answered with a body that is not JSON; the batch must be retried.", inner);

    private static string? Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A batch-response entry's status, "201 Created" → 201; 0 when absent or unreadable.</summary>
    internal static int Status(string? status) =>
        status is { Length: >= 3 } && int.TryParse(status.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var code) ? code : 0;

    /// <summary>The version from the echoed resource's meta, else from the entry's etag (<c>W/"3"</c>).</summary>
    private static string? VersionOf(JsonElement entry, JsonElement response) =>
        (entry.TryGetProperty("resource", out var resource) && resource.TryGetProperty("meta", out var meta) ? Text(meta, "versionId") : null)
        ?? Text(response, "etag")?.Replace("W/", "", StringComparison.Ordinal).Trim('"');

    private static string? OutcomeText(JsonElement response) =>
        response.ValueKind == JsonValueKind.Object && response.TryGetProperty("outcome", out var outcome) ? Summary(outcome) : null;

    /// <summary>
    /// A PHI-free summary of an OperationOutcome: each of the first few issues as <c>severity/code at expression</c>, and
    /// how many there were. Diagnostics and details text are left out, since servers echo the offending values in
    /// them; the element paths are enough to find what was wrong in the dead letter's payload. Null when the text is
    /// not an OperationOutcome.
    /// </summary>
    public static string? SummarizeOutcome(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            return Summary(document.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private const int MaxIssues = 3;

    private static string? Summary(JsonElement outcome)
    {
        if (outcome.ValueKind != JsonValueKind.Object || !outcome.TryGetProperty("issue", out var issues) || issues.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var all = issues.EnumerateArray().ToList();
        var shown = all.Take(MaxIssues).Select(i =>
        {
            var paths = Strings(i, "expression").Concat(Strings(i, "location")).Take(MaxIssues).Select(p => p.Length > 120 ? p[..120] : p).ToList();
            return $"{Bounded(Text(i, "severity"))}/{Bounded(Text(i, "code"))}" + (paths.Count > 0 ? " at " + string.Join(", ", paths) : "");
        });
        return $"{all.Count} issue(s): {string.Join("; ", shown)}" + (all.Count > MaxIssues ? "; …" : "");
    }

    private static IEnumerable<string> Strings(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)
            : [];

    // Severity and code are FHIR codes; a server that puts anything else there is cut short.
    private static string Bounded(string? code) => code is null ? "?" : code.Length > 40 ? code[..40] : code;

    private async Task<string> SendAsync(HttpMethod method, string path, byte[]? body, string? ifMatch, CancellationToken cancellationToken, bool minimal = false,
        string? ifNoneExist = null)
    {
        var what = $"{method} {ResourceType(path)}";
        var attempts = 0;
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(Request, what);
        try
        {
            var outcome = await retries.ExecuteOutcomeAsync(async (attempt, _) =>
            {
                attempts++;
                try
                {
                    return Polly.Outcome.FromResult(await SendOnceAsync(method, path, body, ifMatch, ifNoneExist, minimal, attempt.CancellationToken).ConfigureAwait(false));
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException || IsTokenFailure(ex))
                {
                    return Polly.Outcome.FromException<HttpResponseMessage>(ex);
                }
            }, context, (object?)null).ConfigureAwait(false);

            if (outcome.Exception is { } failure)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // Polly hands back whatever the attempt threw. Only the network and the time-out mean the server did not
                // answer (or, for a token, could not be reached); anything else is a bug in hand, which the writer must
                // dead-letter, not wait out for ever.
                if (failure is not (HttpRequestException or OperationCanceledException) && !IsTokenFailure(failure))
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
                }

                throw new FhirServerUnavailableException($"The FHIR server did not answer {what} after {attempts} attempts (last: {failure.GetType().Name}).", failure);
            }

            using var response = outcome.Result!;
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return text;
            }

            if (IsTransient(response.StatusCode))
            {
                throw new FhirServerUnavailableException($"The FHIR server did not answer {what} after {attempts} attempts (last: {response.StatusCode}).");
            }

            throw new FhirRequestException(response.StatusCode, what, text);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>
    /// The page after <paramref name="page"/>, only on the configured server's own origin (scheme, host and port of
    /// <c>FhirServer:Url</c>): the handler puts the bearer token on every request, so a next link to another host, or
    /// to http on ours, would hand the token there. Otherwise paging stops with <see cref="FhirServerUnavailableException"/>:
    /// the batch is not dead-lettered but waited on and retried, as with a server that does not answer, until the
    /// server (or the proxy that rewrites its links) is fixed. The link itself is not in the message (its query may
    /// hold device or patient identifiers).
    /// </summary>
    private string? NextPage(Bundle page)
    {
        if (page.NextLink is not { } link)
        {
            return null;
        }

        var server = options.Url ?? http.BaseAddress ?? throw new InvalidOperationException($"{FhirServerOptions.SectionName}:Url is required.");
        var target = link.IsAbsoluteUri ? link : new Uri(http.BaseAddress ?? server, link);
        if (Uri.Compare(target, server, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) != 0)
        {
            throw new FhirServerUnavailableException(
                $"The FHIR server's search answer links its next page to another origin than {FhirServerOptions.SectionName}:Url (scheme, host or port); paging stopped so the token is not sent there.");
        }

        return target.AbsoluteUri;
    }

    /// <summary>Azure.Identity could not get a token (Entra ID refused or could not be reached, no managed identity endpoint).</summary>
    public static bool IsTokenFailure(Exception ex) =>
        ex is Azure.Identity.AuthenticationFailedException or Azure.Identity.CredentialUnavailableException;

    /// <summary>
    /// One attempt, body read included: the request time-out covers the whole answer (a server that sends headers and then
    /// stalls is a failed attempt), and the buffered body lets the retry decide on a complete response.
    /// </summary>
    private async Task<HttpResponseMessage> SendOnceAsync(HttpMethod method, string path, byte[]? body, string? ifMatch, string? ifNoneExist, bool minimal,
        CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(FhirJsonType));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(FhirJsonType) { CharSet = "utf-8" } } };
            request.Headers.Add("Prefer", minimal ? "return=minimal" : "return=representation");
        }

        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        if (ifNoneExist is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Exist", ifNoneExist);
        }

        Interlocked.Increment(ref requests);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        var response = await http.SendAsync(request, timeout.Token).ConfigureAwait(false);
        try
        {
            await response.Content.LoadIntoBufferAsync(timeout.Token).ConfigureAwait(false);
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Retries of transient failures (network errors, the per-request time-out, 408, 429, 5xx) through Polly
    /// (Microsoft.Extensions.Http.Resilience's HTTP retry options): exponential backoff with jitter, so writers that lost
    /// the server together do not come back in step, capped at <see cref="FhirServerOptions.MaxBackoff"/>; a server's
    /// Retry-After (seconds or a date, on 429 and 503 alike) may lengthen a wait, never shorten it, capped too. Every request retried is
    /// idempotent by construction: GETs and GET batches, PUTs at the resource's own id (with If-Match where a version is
    /// known), conditional creates (If-None-Exist), and write batches made of those; no plain POST is ever sent.
    /// A pipeline around send and read rather than the library's HttpClient handler: the handler ends before the body is
    /// read, so a stalled body would escape both the time-out and the retry.
    /// </summary>
    private static ResiliencePipeline<HttpResponseMessage> Retries(FhirServerOptions options, ILogger logger, TimeProvider time)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                // Polly's own backoff settings, kept for its validation; the generator below always answers, so these
                // are not what sets the wait (see Delay).
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.InitialBackoff,
                MaxDelay = options.MaxBackoff,
                // Read below instead, so that a server's Retry-After is capped like the backoff (a misconfigured proxy
                // asking for a day must not hold the batch for a day).
                ShouldRetryAfterHeader = false,
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Delay(args.AttemptNumber, args.Outcome.Result, time, options)),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: HttpRequestException } => true,
                    // No Entra ID token (IMDS not ready, an expired secret, an Entra ID outage) is the server out of reach for
                    // us: waited out and retried like a network failure, never a reason to dead-letter the batch.
                    { Exception: { } ex } when IsTokenFailure(ex) => true,
                    // The per-request time-out; the caller's own cancellation ends the retries instead.
                    { Exception: OperationCanceledException } => !args.Context.CancellationToken.IsCancellationRequested,
                    { Result: { } response } => IsTransient(response.StatusCode),
                    _ => false,
                }),
                OnRetry = args =>
                {
                    Log.Retrying(logger, args.Context.Properties.GetValue(Request, "?"), args.AttemptNumber + 1, (int?)args.Outcome.Result?.StatusCode ?? 0,
                        args.Outcome.Exception?.GetType().Name, args.RetryDelay);
                    return default;
                },
            });
        }

        return builder.Build();
    }

    private static readonly ResiliencePropertyKey<string> Request = new("MedTech.Edge.FhirRequest");

    /// <summary>
    /// The wait before retry <paramref name="attempt"/> (0 = the first retry): the longer of a jittered exponential backoff
    /// and the server's Retry-After, capped at <see cref="FhirServerOptions.MaxBackoff"/>. Hand-written because Polly's
    /// DelayGenerator replaces the backoff Polly computed without being shown it: returning the server's Retry-After
    /// there let <c>Retry-After: 0</c>, or a date a lagging server clock put in the past, make every retry immediate,
    /// so a throttled server (429/503) was hit back to back by every writer at once. A server may ask us to wait
    /// longer, never shorter.
    /// </summary>
    private static TimeSpan Delay(int attempt, HttpResponseMessage? response, TimeProvider time, FhirServerOptions options)
    {
        var cap = options.MaxBackoff;
        // Equal jitter: between half and all of the doubled delay, so the wait is never zero and writers that lost the
        // server together spread out. Doubles, so a large attempt number saturates at the cap instead of overflowing.
        var exponential = Math.Min(cap.Ticks, options.InitialBackoff.Ticks * Math.Pow(2, Math.Min(attempt, 62)));
        var backoff = TimeSpan.FromTicks((long)(exponential * (0.5 + (Random.Shared.NextDouble() / 2))));
        var asked = response?.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - time.GetUtcNow(),
            _ => TimeSpan.Zero,
        };
        return asked > backoff ? (asked > cap ? cap : asked) : backoff;
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    // Only the resource type is logged: ids and search values can identify a patient.
    private static string ResourceType(string path) => path.Length == 0 ? "(batch)" : path.Split('/', '?')[0];

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "FHIR request {Request} failed (attempt {Attempt}, status {Status}, error {Error}); retrying in {Delay}.")]
        public static partial void Retrying(ILogger logger, string request, int attempt, int status, string? error, TimeSpan delay);
    }
}
