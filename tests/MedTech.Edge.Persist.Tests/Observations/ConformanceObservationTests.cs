using MedTech.Edge.Persist.Identity;
using MedTech.Edge.Transform;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Persist;
using MedTech.Edge.Transform.Templates;
using MedTech.Edge.Mapping.Grouping;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace MedTech.Edge.Persist.Tests.Observations;

/// <summary>
/// The corpus cases with a FHIR mapping and expected Observations: message → normalize → group → Observation, with the
/// Patient and Device logical ids each case names (identity resolution is tested elsewhere; upstream's worked example
/// uses fixed logical ids too). The expected Observations are written from upstream's documented construction rules
/// (tests/Conformance/NOTICE.md), and compared whole, except <c>issued</c>, which is the time of creation.
/// </summary>
public class ConformanceObservationTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, string> Examples()
    {
        var data = new TheoryData<string, string>();
        foreach (var expected in Corpus.Files("cases", "expected-observations*.json"))
        {
            data.Add(Path.GetFileName(Path.GetDirectoryName(expected)!), Path.GetFileName(expected));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task GivenCorpusCase_WhenTransformed_ThenTheObservationsAreTheExpectedOnes(string @case, string expectedFile)
    {
        var document = (JObject)Parse(Corpus.Text(Corpus.Case(@case, expectedFile)));
        var ids = new ResourceIds((string)document["resolvedIds"]!["patient"]!, (string)document["resolvedIds"]!["device"]!);
        var message = Corpus.Case(@case, $"message{expectedFile["expected-observations".Length..]}");
        var normalized = Corpus.Normalize(Corpus.Mapping(Corpus.Case(@case, "device-mapping.json")), message);
        var mapping = FhirMapping.Parse(Corpus.Text(Corpus.Case(@case, "fhir-mapping.json"))).EnsureValid("fhir-mapping.json");
        Assert.Empty(normalized.Errors);

        var (pending, errors) = await ObservationPlan.CreateAsync(
            MeasurementGrouper.Group(normalized.Measurements), mapping,
            (group, _) => Task.FromResult<IReadOnlyList<IdentityPart>>([new IdentityPart(ids, group.Measurements)]), default);
        var built = pending.Select(p => p.Build(null, Now, new PersistenceOptions().Limits)!).ToList();

        Assert.Empty(errors);
        var expected = (JArray)document["observations"]!;
        Assert.Equal(expected.Count, built.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var actual = (JObject)Parse(FhirJson.Serialize(built[i]));
            Assert.Equal(Now, DateTimeOffset.Parse((string)actual["issued"]!, System.Globalization.CultureInfo.InvariantCulture));
            actual.Remove("issued");
            Assert.True(JToken.DeepEquals(expected[i], actual), $"expected:{Environment.NewLine}{expected[i]}{Environment.NewLine}actual:{Environment.NewLine}{actual}");
        }
    }

    [Fact]
    public void GivenTheCorpus_WhenListed_ThenEveryExpectedObservationHasItsMessageAndFhirMapping()
    {
        var examples = Examples().Select(row => ((string)row[0], (string)row[1])).ToList();

        Assert.True(examples.Count >= 2);
        Assert.All(examples, e => Assert.True(File.Exists(Corpus.PathOf(Corpus.Case(e.Item1, "fhir-mapping.json"))), e.Item1));
        Assert.All(examples, e => Assert.True(File.Exists(Corpus.PathOf(Corpus.Case(e.Item1, $"message{e.Item2["expected-observations".Length..]}"))), e.Item2));
    }

    // Dates stay strings, so a difference in their format (e.g. seven fraction digits or none) is a difference.
    private static JToken Parse(string json)
    {
        using var reader = new JsonTextReader(new StringReader(json)) { DateParseHandling = DateParseHandling.None };
        return JToken.ReadFrom(reader);
    }
}
