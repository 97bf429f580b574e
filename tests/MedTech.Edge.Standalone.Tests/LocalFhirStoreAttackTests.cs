using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MedTech.Edge.Standalone.LocalStore;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Standalone.Tests;

/// <summary>Hostile requests to the local FHIR store through HttpClient: a 4xx with a reason, never an exception, never a hang.</summary>
public sealed class LocalFhirStoreAttackTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-localfhir-attack-").FullName;
    private readonly LocalFhirStore store;
    private readonly HttpClient http;

    public LocalFhirStoreAttackTests()
    {
        store = new LocalFhirStore(Path.Combine(folder, "fhir.db"));
        http = new HttpClient(store, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public void Dispose()
    {
        http.Dispose();
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private async Task<(HttpStatusCode Status, JsonNode? Body)> Send(HttpMethod method, string url, string? body, string? ifNoneExist = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/fhir+json");
        }

        if (ifNoneExist is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Exist", ifNoneExist);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static void AssertRefusedWithReason((HttpStatusCode Status, JsonNode? Body) response)
    {
        Assert.True((int)response.Status is >= 400 and < 500, response.Status.ToString());
        Assert.Equal("OperationOutcome", response.Body?["resourceType"]?.GetValue<string>());
    }

    private static string Patient(string? id, string identifier) => new JsonObject
    {
        ["resourceType"] = "Patient",
        ["id"] = id,
        ["identifier"] = new JsonArray(new JsonObject { ["system"] = "urn:mrn", ["value"] = identifier }),
    }.ToJsonString();

    /// <summary>A condition the store cannot evaluate must be refused (400), not dropped: dropping it makes a second Patient.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("name=smith")]
    [InlineData("identifier")]
    [InlineData("_id=p1")]
    public async Task Attack_ConditionalCreateWithAConditionThatIsNotIdentifier_IsRefusedNotIgnored(string condition)
    {
        var first = await Send(HttpMethod.Post, "Patient", Patient(null, "m1"), condition);
        var second = await Send(HttpMethod.Post, "Patient", Patient(null, "m1"), condition);

        Assert.True(store.Count("Patient") <= 1, $"{store.Count("Patient")} Patients after two conditional creates with If-None-Exist '{condition}' ({first.Status}, {second.Status})");
        AssertRefusedWithReason(first);
    }

    [Fact]
    public async Task Attack_ConditionalCreateWithAMegabyteIdentifier_AnswersWithoutCrashOrDuplicate()
    {
        var big = new string('9', 1 << 20);
        var first = await Send(HttpMethod.Post, "Patient", Patient(null, "m1"), "identifier=urn:mrn|" + big);
        var second = await Send(HttpMethod.Post, "Patient", Patient(null, "m1"), "identifier=urn:mrn|" + big);

        Assert.True((int)first.Status is 201 or 413 or 400, first.Status.ToString());
        Assert.True((int)second.Status is 201 or 413 or 400, second.Status.ToString());
    }

    [Fact]
    public async Task Attack_ConditionalCreateOfAMegabyteIdentifierMatchingIt_FindsItTheSecondTime()
    {
        var big = new string('9', 200_000);
        var first = await Send(HttpMethod.Post, "Patient", Patient(null, big), "identifier=urn:mrn|" + big);
        var second = await Send(HttpMethod.Post, "Patient", Patient(null, big), "identifier=urn:mrn|" + big);

        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(HttpStatusCode.OK, second.Status);
        Assert.Equal(1, store.Count("Patient"));
    }

    [Theory]
    [InlineData(65)]
    [InlineData(10_000)]
    public async Task Attack_AWishedIdLongerThan64_IsNotKept(int length)
    {
        var (status, body) = await Send(HttpMethod.Post, "Patient", Patient(new string('a', length), "m1"));

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Matches("^[A-Za-z0-9.-]{1,64}$", body!["id"]!.GetValue<string>());
    }

    /// <summary>FHIR ids are [A-Za-z0-9\-\.]{1,64}: a NUL, a space, a '?' kept as the id makes a resource no URL can read.</summary>
    [Theory]
    [InlineData("a\0b")]
    [InlineData("a b")]
    [InlineData("a?b")]
    public async Task Attack_AWishedIdThatIsNotAFhirId_IsNotKeptAndTheResourceCanBeReadBack(string wish)
    {
        var (status, body) = await Send(HttpMethod.Post, "Patient", Patient(wish, "m1"));

        Assert.Equal(HttpStatusCode.Created, status);
        var id = body!["id"]!.GetValue<string>();
        Assert.Matches("^[A-Za-z0-9.-]{1,64}$", id);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, "Patient/" + Uri.EscapeDataString(id), null)).Status);
    }

    [Fact]
    public async Task Attack_ABatchMixingGetPutPost_AnswersEachEntry()
    {
        await Send(HttpMethod.Put, "Patient/p1", Patient("p1", "m1"));
        var bundle = new JsonObject
        {
            ["resourceType"] = "Bundle",
            ["type"] = "batch",
            ["entry"] = new JsonArray(
                new JsonObject { ["request"] = new JsonObject { ["method"] = "GET", ["url"] = "Patient/p1" } },
                new JsonObject { ["request"] = new JsonObject { ["method"] = "GET", ["url"] = "Patient?identifier=urn:mrn|m1" } },
                new JsonObject { ["request"] = new JsonObject { ["method"] = "PUT", ["url"] = "Patient/p2" }, ["resource"] = JsonNode.Parse(Patient("p2", "m2")) },
                new JsonObject { ["request"] = new JsonObject { ["method"] = "POST", ["url"] = "Patient", ["ifNoneExist"] = "identifier=urn:mrn|m1" }, ["resource"] = JsonNode.Parse(Patient(null, "m1")) },
                new JsonObject { ["request"] = new JsonObject { ["method"] = "POST", ["url"] = "Patient" }, ["resource"] = JsonNode.Parse(Patient("p3", "m3")) },
                new JsonObject { ["request"] = new JsonObject { ["method"] = "DELETE", ["url"] = "Patient/p1" } },
                new JsonObject { ["request"] = new JsonObject { ["method"] = "GET", ["url"] = "Patient/nope" } }),
        };

        var (status, body) = await Send(HttpMethod.Post, "", bundle.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, status);
        var statuses = body!["entry"]!.AsArray().Select(e => e!["response"]!["status"]!.GetValue<string>()[..3]).ToArray();
        Assert.Equal(["200", "200", "201", "200", "201", "405", "404"], statuses);
        Assert.Equal(3, store.Count("Patient"));
    }

    [Theory]
    [InlineData("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\"}}]}")]
    [InlineData("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[null]}")]
    [InlineData("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"request\":{\"url\":\"Patient/p1\"}}]}")]
    [InlineData("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"request\":{\"method\":7,\"url\":\"Patient/p1\"}}]}")]
    [InlineData("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[{\"request\":{\"method\":\"PUT\",\"url\":\"Patient/p1\"},\"resource\":[]}]}")]
    [InlineData("{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":{}}")]
    public async Task Attack_ABatchEntryWithoutAUsableRequest_IsRefusedWith4xxNotAnException(string bundle)
    {
        var exception = await Record.ExceptionAsync(async () =>
        {
            var (status, body) = await Send(HttpMethod.Post, "", bundle);
            var refused = (int)status is >= 400 and < 500
                || body?["entry"]?[0]?["response"]?["status"]?.GetValue<string>() is { } entry && entry.StartsWith('4');
            Assert.True(refused, $"{status}: {body?.ToJsonString()}");
        });
        Assert.Null(exception);
        Assert.Equal(0, store.Count("Patient"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("\"x\"")]
    public async Task Attack_ABodyThatIsNotAJsonObject_IsRefusedWith400(string body)
    {
        var exception = await Record.ExceptionAsync(async () =>
        {
            AssertRefusedWithReason(await Send(HttpMethod.Post, "", body));
            AssertRefusedWithReason(await Send(HttpMethod.Put, "Patient/p1", body));
        });
        Assert.Null(exception);
    }
}
