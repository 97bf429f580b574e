using Hl7.Fhir.Model;
using MedTech.Edge.Persist.Server;
using MedTech.Edge.Standalone.LocalStore;
using Microsoft.Extensions.Logging.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace MedTech.Edge.Standalone.Tests;

/// <summary>The local FHIR store answers the writer's requests as a FHIR server would: versions, If-Match, identifier search, batches.</summary>
public sealed class LocalFhirStoreTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-localfhir-").FullName;
    private readonly LocalFhirStore store;
    private readonly FhirServerClient client;

    public LocalFhirStoreTests()
    {
        store = new LocalFhirStore(Path.Combine(folder, "fhir.db"));
        var options = new FhirServerOptions { Url = LocalFhirStore.BaseAddress, MaxAttempts = 1 };
        client = new FhirServerClient(new HttpClient(store, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress }, options, NullLogger<FhirServerClient>.Instance);
    }

    public void Dispose()
    {
        store.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task GivenAStoredResource_WhenUpdatedWithAStaleVersion_ThenTheStoreRefusesWith412()
    {
        var created = await client.PutAsync(new Device { Id = "d1", Identifier = [new Identifier("urn:sys", "monitor-1")] }, null, CancellationToken.None);
        Assert.Equal("1", created.Meta!.VersionId);
        var updated = await client.PutAsync(new Device { Id = "d1", Identifier = [new Identifier("urn:sys", "monitor-1")] }, "W/\"1\"", CancellationToken.None);
        Assert.Equal("2", updated.Meta!.VersionId);

        var stale = await Assert.ThrowsAsync<FhirRequestException>(() => client.PutAsync(new Device { Id = "d1" }, "W/\"1\"", CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.PreconditionFailed, stale.Status);
    }

    [Fact]
    public async Task GivenConcurrentConditionalCreatesOfOneIdentifier_WhenTheyRace_ThenTheStoreHoldsOneResourceWithTheWishedIdAndEveryCallerGetsIt()
    {
        var criteria = "identifier=" + Uri.EscapeDataString("urn:mrn|a\\|b,c");

        var made = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => client.CreateAsync(
            new Patient { Id = "hashed-id", Identifier = [new Identifier("urn:mrn", "a|b,c")], BirthDate = $"19{50 + i}" }, criteria, CancellationToken.None))));

        Assert.Equal(1, store.Count("Patient"));
        Assert.All(made, p => Assert.Equal(("hashed-id", "1"), (p.Id, p.Meta!.VersionId)));
    }

    [Fact]
    public async Task GivenAConditionalCreate_WhenTheWishedIdIsTakenOrSeveralMatch_ThenTheStoreGivesAnIdOrRefusesWith412()
    {
        await client.PutAsync(new Patient { Id = "taken", Identifier = [new Identifier(null, "other")] }, null, CancellationToken.None);
        var created = await client.CreateAsync(new Patient { Id = "taken", Identifier = [new Identifier(null, "new")] }, "identifier=new", CancellationToken.None);
        Assert.NotEqual("taken", created.Id);
        Assert.Equal("other", Assert.Single(await client.SearchAsync<Patient>("Patient?identifier=other", CancellationToken.None)).Identifier[0].Value);

        await client.PutAsync(new Patient { Id = "twin", Identifier = [new Identifier(null, "new")] }, null, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<FhirRequestException>(() => client.CreateAsync(new Patient { Identifier = [new Identifier(null, "new")] }, "identifier=new", CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.PreconditionFailed, refused.Status);
        Assert.Equal(3, store.Count("Patient"));
    }

    [Fact]
    public async Task GivenAnObservationWithAnIdentifier_WhenSearchedOrConditionallyCreatedByIt_ThenTheStoreRefusesRatherThanAnswerEmpty()
    {
        // Only the types the writer looks up are indexed by identifier; an empty answer for an Observation would make a
        // conditional create duplicate what it is there to prevent.
        await client.PutAsync(new Observation { Id = "o1", Identifier = [new Identifier("urn:sys", "reading-1")], Status = ObservationStatus.Final, Code = new CodeableConcept("urn:c", "hr") }, null, CancellationToken.None);

        var search = await Assert.ThrowsAsync<FhirRequestException>(() => client.SearchAsync<Observation>("Observation?identifier=reading-1", CancellationToken.None));
        var create = await Assert.ThrowsAsync<FhirRequestException>(() => client.CreateAsync(
            new Observation { Identifier = [new Identifier("urn:sys", "reading-1")], Status = ObservationStatus.Final, Code = new CodeableConcept("urn:c", "hr") }, "identifier=reading-1", CancellationToken.None));

        Assert.Equal((System.Net.HttpStatusCode.BadRequest, System.Net.HttpStatusCode.BadRequest), (search.Status, create.Status));
        Assert.Equal(1, store.Count("Observation"));
        var updated = await client.PutAsync(new Observation { Id = "o1", Status = ObservationStatus.Amended, Code = new CodeableConcept("urn:c", "hr") }, "W/\"1\"", CancellationToken.None);
        Assert.Equal(("2", ObservationStatus.Amended), (updated.Meta!.VersionId, updated.Status));
    }

    [Fact]
    public async Task GivenResourcesWithIdentifiers_WhenSearchedByToken_ThenSystemAndValueOrValueAloneMatch()
    {
        await client.PutAsync(new Device { Id = "d1", Identifier = [new Identifier("urn:sys", "monitor|1")] }, null, CancellationToken.None);
        await client.PutAsync(new Device { Id = "d2", Identifier = [new Identifier("urn:other", "monitor|1")] }, null, CancellationToken.None);
        await client.PutAsync(new Patient { Id = "p1", Identifier = [new Identifier { Value = "monitor|1" }] }, null, CancellationToken.None);

        var bySystem = await client.SearchAsync<Device>($"Device?identifier={Uri.EscapeDataString("urn:sys|monitor\\|1")}", CancellationToken.None);
        var byValue = await client.SearchAsync<Device>($"Device?identifier={Uri.EscapeDataString("monitor\\|1")}", CancellationToken.None);

        Assert.Equal(["d1"], bySystem.Select(d => d.Id));
        Assert.Equal(["d1", "d2"], byValue.Select(d => d.Id).Order());
    }

    [Fact]
    public async Task GivenIdentifiersOfHalfAMegabyteThatDifferInTheirLastCharacter_WhenStoredAndSearched_ThenEachSearchFindsExactlyItsOwn()
    {
        // LiteDB refuses index keys of 1,023 bytes and more; a device can send an id of any length.
        var prefix = new string('x', 500_000);
        await client.PutAsync(new Device { Id = "d1", Identifier = [new Identifier("urn:sys", prefix + "1")] }, null, CancellationToken.None);
        await client.PutAsync(new Device { Id = "d2", Identifier = [new Identifier("urn:sys", prefix + "2")] }, null, CancellationToken.None);

        // In a batch bundle, as the writer's search-ahead sends it (a URL of 500 KB is more than System.Uri takes).
        var searches = await client.GetBatchAsync([$"Device?identifier={Uri.EscapeDataString("urn:sys|" + prefix + "2")}", $"Device?identifier={Uri.EscapeDataString(prefix + "1")}", $"Device?identifier={Uri.EscapeDataString(prefix)}"], CancellationToken.None);

        Assert.Equal([["d2"], ["d1"], []], searches.Select(e => ((Bundle)e!.Resource!).Entry.Select(x => x.Resource!.Id).ToArray()));
    }

    [Fact]
    public async Task GivenAnIdLongerThanFhirAllows_WhenPut_ThenTheStoreRefusesItWith400AndKeepsWorking()
    {
        var refused = await Assert.ThrowsAsync<FhirRequestException>(() => client.PutAsync(new Device { Id = new string('a', 65) }, null, CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.Status);

        Assert.Equal("1", (await client.PutAsync(new Device { Id = new string('a', 64) }, null, CancellationToken.None)).Meta!.VersionId);
    }

    [Fact]
    public async Task GivenAResourceLargerThanTheStoreKeeps_WhenWrittenInABatch_ThenThatEntryIs413AndTheOtherIsStored()
    {
        var writes = new Bundle { Type = Bundle.BundleType.Batch };
        writes.Entry.Add(new Bundle.EntryComponent { Resource = new Observation { Id = "big", Status = ObservationStatus.Final, Value = new FhirString(new string('v', 9_000_000)) }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = "Observation/big" } });
        writes.Entry.Add(new Bundle.EntryComponent { Resource = new Observation { Id = "small", Status = ObservationStatus.Final }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = "Observation/small" } });

        var results = await client.WriteBatchAsync(writes, CancellationToken.None);

        Assert.Equal([413, 201], results.Select(r => r.Status));
        Assert.Equal(1, store.Count("Observation"));
    }

    [Fact]
    public async Task GivenABatch_WhenItReadsAndWrites_ThenEachEntryHasItsOwnStatusAndTheExportHasEveryResource()
    {
        await client.PutAsync(new Observation { Id = "o1", Status = ObservationStatus.Final }, null, CancellationToken.None);
        var bundle = new Bundle { Type = Bundle.BundleType.Batch };
        bundle.Entry.Add(new Bundle.EntryComponent { Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.GET, Url = "Observation/o1" } });
        bundle.Entry.Add(new Bundle.EntryComponent { Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.GET, Url = "Observation/missing" } });
        var response = await client.BatchAsync(bundle, CancellationToken.None);
        Assert.Equal(["200 OK", "404 Not Found"], response.Entry.Select(e => e.Response!.Status));
        Assert.Equal("o1", response.Entry[0].Resource!.Id);

        var writes = new Bundle { Type = Bundle.BundleType.Batch };
        writes.Entry.Add(new Bundle.EntryComponent { Resource = new Observation { Id = "o1", Status = ObservationStatus.Amended }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = "Observation/o1", IfMatch = "W/\"1\"" } });
        writes.Entry.Add(new Bundle.EntryComponent { Resource = new Observation { Id = "o2", Status = ObservationStatus.Final }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = "Observation/o2", IfMatch = "W/\"3\"" } });
        var results = await client.WriteBatchAsync(writes, CancellationToken.None);
        Assert.Equal([(200, "2"), (412, null)], results.Select(r => (r.Status, r.VersionId)));

        using var ndjson = new StringWriter();
        Assert.Equal(1, store.ExportNdjson(ndjson));
        Assert.Contains("\"status\":\"amended\"", ndjson.ToString());
    }

    [Fact]
    public async Task GivenConditionalCreates_WhenTwoAskForOneIdentifier_ThenOneResourceIsCreatedAndTheSecondGetsIt()
    {
        Bundle Create(string value) => new()
        {
            Type = Bundle.BundleType.Batch,
            Entry = [new Bundle.EntryComponent { Resource = new Patient { Identifier = [new Identifier("urn:mrn", value)] }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "Patient", IfNoneExist = $"identifier={Uri.EscapeDataString("urn:mrn|" + value)}" } }],
        };

        var first = await client.WriteBatchAsync(Create("p-1"), CancellationToken.None);
        var second = await client.WriteBatchAsync(Create("p-1"), CancellationToken.None);
        var other = await client.WriteBatchAsync(Create("p-2"), CancellationToken.None);

        Assert.Equal([201, 200, 201], new[] { first[0].Status, second[0].Status, other[0].Status });
        Assert.Equal(2, store.Count("Patient"));
        var found = await client.SearchAsync<Patient>($"Patient?identifier={Uri.EscapeDataString("urn:mrn|p-1")}", CancellationToken.None);
        Assert.True(Guid.TryParse(Assert.Single(found).Id, out _));
    }

    [Fact]
    public async Task GivenTwoResourcesMatchingACondition_WhenCreatedConditionally_ThenTheStoreRefusesWith412AndCreatesNothing()
    {
        await client.PutAsync(new Device { Id = "d1", Identifier = [new Identifier("urn:a", "monitor-1")] }, null, CancellationToken.None);
        await client.PutAsync(new Device { Id = "d2", Identifier = [new Identifier("urn:b", "monitor-1")] }, null, CancellationToken.None);
        using var http = new HttpClient(store, disposeHandler: false);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(LocalFhirStore.BaseAddress, "Device"))
        {
            Content = new StringContent("""{"resourceType":"Device","identifier":[{"value":"monitor-1"}]}"""),
        };
        request.Headers.Add("If-None-Exist", "identifier=monitor-1");

        using var response = await http.SendAsync(request);

        Assert.Equal(System.Net.HttpStatusCode.PreconditionFailed, response.StatusCode);
        Assert.Equal(2, store.Count("Device"));
    }

    [Fact]
    public async Task GivenARetention_WhenObservationsAgeBeyondIt_ThenTheyAreRemovedAndPatientsDevicesAndNewerObservationsStay()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        using var kept = new LocalFhirStore(Path.Combine(folder, "kept.db"), TimeSpan.FromDays(7), clock);
        var options = new FhirServerOptions { Url = LocalFhirStore.BaseAddress, MaxAttempts = 1 };
        var keptClient = new FhirServerClient(new HttpClient(kept, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress }, options, NullLogger<FhirServerClient>.Instance);
        Bundle Writes(params Resource[] resources) => new()
        {
            Type = Bundle.BundleType.Batch,
            Entry = [.. resources.Select(r => new Bundle.EntryComponent { Resource = r, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = $"{r.TypeName}/{r.Id}" } })],
        };
        await keptClient.WriteBatchAsync(Writes(new Patient { Id = "p1" }, new Device { Id = "d1" }, new Observation { Id = "old", Status = ObservationStatus.Final }), CancellationToken.None);
        clock.Advance(TimeSpan.FromDays(6));
        await keptClient.WriteBatchAsync(Writes(new Observation { Id = "recent", Status = ObservationStatus.Final }), CancellationToken.None);

        clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        await keptClient.WriteBatchAsync(Writes(new Observation { Id = "new", Status = ObservationStatus.Final }), CancellationToken.None);

        using var ndjson = new StringWriter();
        kept.ExportNdjson(ndjson);
        var ids = ndjson.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => System.Text.Json.Nodes.JsonNode.Parse(line)!["id"]!.GetValue<string>());
        Assert.Equal(["d1", "new", "p1", "recent"], ids.Order());
    }

    [Fact]
    public async Task GivenNoRetention_WhenYearsPass_ThenNothingIsRemoved()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        using var everything = new LocalFhirStore(Path.Combine(folder, "all.db"), TimeSpan.Zero, clock);
        var options = new FhirServerOptions { Url = LocalFhirStore.BaseAddress, MaxAttempts = 1 };
        var allClient = new FhirServerClient(new HttpClient(everything, disposeHandler: false) { BaseAddress = LocalFhirStore.BaseAddress }, options, NullLogger<FhirServerClient>.Instance);
        await allClient.PutAsync(new Observation { Id = "old", Status = ObservationStatus.Final }, null, CancellationToken.None);
        clock.Advance(TimeSpan.FromDays(3 * 365));

        // The store removes old resources while it writes a batch, which is how the writer writes.
        var batch = new Bundle { Type = Bundle.BundleType.Batch };
        batch.Entry.Add(new Bundle.EntryComponent { Resource = new Observation { Id = "new", Status = ObservationStatus.Final }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.PUT, Url = "Observation/new" } });
        await allClient.WriteBatchAsync(batch, CancellationToken.None);

        Assert.Equal(2, everything.Count("Observation"));
    }
}
