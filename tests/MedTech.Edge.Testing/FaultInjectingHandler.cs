using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace MedTech.Edge.Testing;

/// <summary>
/// A fault-injecting proxy in the client's handler chain, in front of the real FHIR server (Medplum validates little,
/// so it plays a server that refuses what it is told to): requests whose body holds a marker throw (an unknown bug),
/// are refused whole (400, 413), or have just the batch entries holding the marker answered with a status and an
/// OperationOutcome while the other entries go to the real server. Linked into the writer tests too.
/// </summary>
public sealed class FaultInjectingHandler : DelegatingHandler
{
    private int entryFaults;

    /// <summary>A request whose URL or body holds this throws <see cref="InvalidOperationException"/>, as a bug in the client would.</summary>
    public string? ThrowOn { get; set; }

    /// <summary>A write bundle (one with PUT entries) whose body holds this is refused as a whole with <see cref="RefuseStatus"/>.</summary>
    public string? RefuseOn { get; set; }

    public HttpStatusCode RefuseStatus { get; set; } = HttpStatusCode.BadRequest;

    /// <summary>Write entries (PUT) whose resource holds this are answered with <see cref="EntryStatus"/> and <see cref="EntryOutcome"/>.</summary>
    public string? FailEntriesWith { get; set; }

    public int EntryStatus { get; set; } = 422;

    /// <summary>
    /// An OperationOutcome whose diagnostics echo a value, as servers do; what goes with a dead letter must not hold it.
    /// </summary>
    public string EntryOutcome { get; set; } = """
        {"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"patient mrn-4711 value rejected","expression":["Observation.valueSampledData.data"]}]}
        """;

    /// <summary>How many entries were answered with a fault so far.</summary>
    public int EntryFaults => Volatile.Read(ref entryFaults);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        if (ThrowOn is { } bug && (body.Contains(bug, StringComparison.Ordinal) || request.RequestUri!.OriginalString.Contains(bug, StringComparison.Ordinal)))
        {
            throw new InvalidOperationException("An injected bug.");
        }

        if (RefuseOn is { } refused && body.Contains(refused, StringComparison.Ordinal) && body.Contains("\"PUT\"", StringComparison.Ordinal))
        {
            return Json(RefuseStatus, """{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"too-costly","diagnostics":"mrn-4711"}]}""");
        }

        if (FailEntriesWith is not { } marker || request.Method != HttpMethod.Post || !body.Contains(marker, StringComparison.Ordinal))
        {
            return await base.SendAsync(request, cancellationToken);
        }

        // Answer the marked entries here, forward the others, and put the answers back in the bundle's order.
        var entries = JsonNode.Parse(body)!["entry"]!.AsArray();
        var forward = new JsonArray();
        var marked = new List<bool>();
        foreach (var entry in entries)
        {
            var isMarked = entry!["request"]?["method"]?.GetValue<string>() == "PUT" && entry["resource"]!.ToJsonString().Contains(marker, StringComparison.Ordinal);
            marked.Add(isMarked);
            if (!isMarked)
            {
                forward.Add(entry.DeepClone());
            }
        }

        var answered = new Queue<JsonNode?>();
        if (forward.Count > 0)
        {
            using var inner = new HttpRequestMessage(HttpMethod.Post, request.RequestUri)
            {
                Content = new StringContent(new JsonObject { ["resourceType"] = "Bundle", ["type"] = "batch", ["entry"] = forward }.ToJsonString(), Encoding.UTF8, "application/fhir+json"),
            };
            foreach (var header in request.Headers)
            {
                inner.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            using var response = await base.SendAsync(inner, cancellationToken);
            foreach (var entry in JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!["entry"]!.AsArray())
            {
                answered.Enqueue(entry?.DeepClone());
            }
        }

        var result = new JsonArray();
        foreach (var isMarked in marked)
        {
            if (isMarked)
            {
                Interlocked.Increment(ref entryFaults);
                result.Add(new JsonObject { ["response"] = new JsonObject { ["status"] = EntryStatus.ToString(System.Globalization.CultureInfo.InvariantCulture), ["outcome"] = JsonNode.Parse(EntryOutcome) } });
            }
            else
            {
                result.Add(answered.Dequeue());
            }
        }

        return Json(HttpStatusCode.OK, new JsonObject { ["resourceType"] = "Bundle", ["type"] = "batch-response", ["entry"] = result }.ToJsonString());
    }

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/fhir+json") };
}
