using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MedTech.Edge.Standalone.LocalStore;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Standalone.Tests;

/// <summary>Review of issue 22's LocalFhirStore change (Insert or Update instead of Upsert; identifiers indexed for three types), on a real file.</summary>
public sealed class LocalFhirStoreReviewTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-review22-local-").FullName;
    private readonly LocalFhirStore store;
    private readonly HttpClient http;

    public LocalFhirStoreReviewTests()
    {
        store = new LocalFhirStore(Path.Combine(folder, "fhir.db"));
        http = new HttpClient(store, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress };
    }

    public void Dispose()
    {
        http.Dispose();
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>A POST create then a PUT of the same id in one batch: the "exists" decision of the PUT must see the create.</summary>
    [Fact]
    public async Task GivenABatchThatCreatesThenPutsOneId_WhenApplied_ThenThePutsUpdateTheCreatedResource()
    {
        var answer = await Batch(
            Entry("POST", "Observation", new JsonObject { ["resourceType"] = "Observation", ["id"] = "o1", ["status"] = "preliminary" }),
            Entry("PUT", "Observation/o1", new JsonObject { ["resourceType"] = "Observation", ["id"] = "o1", ["status"] = "final" }),
            Entry("PUT", "Observation/o1", new JsonObject { ["resourceType"] = "Observation", ["id"] = "o1", ["status"] = "amended" }));

        Assert.Equal(["201 Created", "200 OK", "200 OK"], answer.Select(e => e!["response"]!["status"]!.GetValue<string>()));
        Assert.Equal(1, store.Count("Observation"));
        var (status, body) = await Get("Observation/o1");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(("amended", "3"), (body!["status"]!.GetValue<string>(), body["meta"]!["versionId"]!.GetValue<string>()));
    }

    /// <summary>
    /// FHIR ids are case-sensitive ([A-Za-z0-9\-\.]{1,64}); the store keys resources by "Type/id" in LiteDB, whose
    /// default collation ignores case. A PUT of Patient/ABC then finds Patient/abc, "exists" is true, and Update replaces
    /// the other Patient: two patients merged into one record (wrong patient).
    /// </summary>
    [Fact]
    public async Task GivenIdsDifferingOnlyInCase_WhenPut_ThenTheStoreKeepsTwoPatients()
    {
        var first = await Send(HttpMethod.Put, "Patient/abc", Patient("abc", "mrn-1"));
        var second = await Send(HttpMethod.Put, "Patient/ABC", Patient("ABC", "mrn-2"));

        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (first, second));
        Assert.Equal(2, store.Count("Patient"));
        var (_, body) = await Get("Patient/abc");
        Assert.Equal("mrn-1", body!["identifier"]![0]!["value"]!.GetValue<string>());
    }

    private static JsonObject Patient(string id, string mrn) => new()
    {
        ["resourceType"] = "Patient",
        ["id"] = id,
        ["identifier"] = new JsonArray(new JsonObject { ["system"] = "urn:mrn", ["value"] = mrn }),
    };

    private static JsonObject Entry(string method, string url, JsonObject resource) => new()
    {
        ["resource"] = resource,
        ["request"] = new JsonObject { ["method"] = method, ["url"] = url },
    };

    private async Task<JsonArray> Batch(params JsonObject[] entries)
    {
        var bundle = new JsonObject { ["resourceType"] = "Bundle", ["type"] = "batch", ["entry"] = new JsonArray(entries) };
        using var content = new StringContent(bundle.ToJsonString(), Encoding.UTF8, "application/fhir+json");
        using var response = await http.PostAsync("", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["entry"]!.AsArray();
    }

    private async Task<HttpStatusCode> Send(HttpMethod method, string url, JsonObject resource)
    {
        using var request = new HttpRequestMessage(method, url) { Content = new StringContent(resource.ToJsonString(), Encoding.UTF8, "application/fhir+json") };
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> Get(string url)
    {
        using var response = await http.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }
}
