using MedTech.Edge.Mapping.Expressions;
using MedTech.Edge.Mapping.Templates;

namespace MedTech.Edge.Mapping.Tests.Templates;

public class DeviceMappingParsingTests
{
    public static TheoryData<string> ValidFixtures() => new(
        Corpus.Files(Corpus.TemplateTests, "data_*ContentTemplateValid*.json")
            .Where(f => !f.Contains("InvalidAndMissingMembers", StringComparison.Ordinal))
            .Concat(Corpus.Files(Corpus.TemplateTests, "data_CollectionContentTemplate*.json")
                .Where(f => !f.Contains("Invalid", StringComparison.Ordinal) && !f.Contains("Mixed", StringComparison.Ordinal)
                    && !f.EndsWith("Empty.json", StringComparison.Ordinal)))
            .Concat(Corpus.Files(Corpus.ValidationTests, "data_CollectionContentTemplate*Valid.json"))
            .Concat(Corpus.Files("templates", "devicecontent.json"))
            .Concat(Corpus.Files("cases", "device-mapping.json"))
            .Concat(Corpus.BenchMappings()));

    [Theory]
    [MemberData(nameof(ValidFixtures))]
    public void GivenValidCorpusMapping_WhenParsed_ThenNoErrorsAndEveryTemplateBuilt(string file)
    {
        var text = Corpus.Text(file);
        var single = !text.Contains("CollectionContent", StringComparison.OrdinalIgnoreCase);
        var mapping = DeviceMapping.Parse(single ? Wrap(text) : text);

        Assert.True(mapping.IsValid, string.Join(Environment.NewLine, mapping.Errors));
        Assert.Equal(Newtonsoft.Json.Linq.JToken.Parse(single ? Wrap(text) : text.TrimStart('\uFEFF'))["template"]!.Count(), mapping.Templates.Count);
    }

    [Theory]
    [InlineData("data_IotCentralJsonPathContentTemplateInvalidMissingTypeMetadata.json")]
    [InlineData("data_IotCentralJsonPathContentTemplateInvalidMissingValueField.json")]
    [InlineData("data_IotJsonPathContentTemplateInvalidMissingTypeMetadata.json")]
    [InlineData("data_IotJsonPathContentTemplateInvalidMissingValueField.json")]
    [InlineData("data_JsonPathContentTemplateInvalidMissingExpression.json")]
    public void GivenInvalidSingleTemplate_WhenParsed_ThenErrorsNameTheMissingMemberWithItsLine(string file)
    {
        var mapping = DeviceMapping.Parse(Wrap(Corpus.Text($"{Corpus.TemplateTests}/{file}")));

        Assert.False(mapping.IsValid);
        Assert.Empty(mapping.Templates);
        Assert.All(mapping.Errors, e => Assert.True(e.Line > 0 && e.Position > 0 && e.TemplateIndex == 0, e.ToString()));
        Assert.Contains(mapping.Errors, e => e.Message.Contains("Required member", StringComparison.Ordinal));
    }

    [Fact]
    public void GivenTwoUnknownAndTwoMissingMembers_WhenParsed_ThenFourErrorsEachWithItsOwnLine()
    {
        var mapping = DeviceMapping.Parse(Wrap(Corpus.Text($"{Corpus.TemplateTests}/data_CalculatedFunctionContentTemplateValidInvalidAndMissingMembers.json")));

        Assert.Equal(4, mapping.Errors.Count);
        Assert.Equal(2, mapping.Errors.Count(e => e.Message.StartsWith("Unknown member", StringComparison.Ordinal)));
        Assert.Equal(2, mapping.Errors.Count(e => e.Message.StartsWith("Required member", StringComparison.Ordinal)));
    }

    [Fact]
    public void GivenMixedValidity_WhenParsed_ThenValidSiblingsAreBuiltAndErrorsCarryTheirTemplateIndex()
    {
        var mapping = DeviceMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/data_CollectionContentTemplateMixedValidity.json"));

        Assert.False(mapping.IsValid);
        Assert.NotEmpty(mapping.Templates);
        var failing = mapping.Errors.Select(e => e.TemplateIndex).Distinct().ToList();
        Assert.All(mapping.Templates, t => Assert.DoesNotContain(t.Index, failing));
    }

    [Theory]
    [InlineData("data_CollectionContentTemplateEmpty.json", "templateType")]
    [InlineData("data_CollectionContentTemplateInvalid.json", null)]
    [InlineData("data_InvalidTemplateType.json", "CollectionContent")]
    [InlineData("data_InvalidCollectionContentTemplateWithNoTemplateArray.json", "array")]
    [InlineData("data_InvalidJson.txt", "not valid JSON")]
    public void GivenInvalidCollection_WhenParsed_ThenRejectedWithAReadableError(string file, string? mentions)
    {
        var mapping = DeviceMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/{file}"));

        Assert.False(mapping.IsValid);
        Assert.All(mapping.Errors, e => Assert.NotNull(e.Line));
        if (mentions is not null)
        {
            Assert.Contains(mapping.Errors, e => e.Message.Contains(mentions, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void GivenEmptyTemplateArray_WhenParsed_ThenValidAndEmpty()
    {
        var mapping = DeviceMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/data_CollectionContentTemplateEmptyWithType.json"));

        Assert.True(mapping.IsValid);
        Assert.Empty(mapping.Templates);
    }

    [Theory]
    [InlineData("calculatedcontent", DeviceTemplateKind.CalculatedContent)]
    [InlineData("JSONPATHCONTENTTEMPLATE", DeviceTemplateKind.JsonPathContent)]
    [InlineData("IotJsonPathContentTemplate", DeviceTemplateKind.IotJsonPathContent)]
    [InlineData("iotcentraljsonpathcontent", DeviceTemplateKind.IotCentralJsonPathContent)]
    public void GivenAcceptedTypeSpelling_WhenParsed_ThenTheTemplateKindIsRecognised(string spelling, DeviceTemplateKind kind)
    {
        var mapping = DeviceMapping.Parse(Collection(spelling, """{"typeName":"t","typeMatchExpression":"$..[?(@x)]","deviceIdExpression":"$.d","timestampExpression":"$.t"}"""));

        Assert.True(mapping.IsValid, string.Join(", ", mapping.Errors));
        Assert.Equal(kind, Assert.Single(mapping.Templates).Kind);
    }

    [Theory]
    [InlineData("CalculatedContentTemplate")]
    [InlineData("IotCentralJsonPathContentTemplate")]
    public void GivenSpellingUpstreamRejects_WhenParsed_ThenNoMatchError(string spelling)
    {
        var mapping = DeviceMapping.Parse(Collection(spelling, """{"typeName":"t","typeMatchExpression":"$.x"}"""));

        Assert.Contains("No match found for template type", Assert.Single(mapping.Errors).Message);
    }

    [Fact]
    public void GivenBomAndStringRequiredAndExpressionObjects_WhenParsed_ThenAccepted()
    {
        var mapping = DeviceMapping.Parse('\uFEFF' + Collection("CalculatedContent", """
            {"typeName":"t","defaultExpressionLanguage":"JmesPath","typeMatchExpression":"Body",
             "deviceIdExpression":{"value":"$.Body.d","language":"JsonPath"},"timestampExpression":"Body.t",
             "values":[{"valueName":"v","valueExpression":"Body.v","required":"true"}]}
            """));

        var template = Assert.Single(mapping.Templates);
        Assert.Equal(ExpressionLanguage.JmesPath, template.TypeMatch.Language);
        Assert.Equal(ExpressionLanguage.JsonPath, template.DeviceId.Language);
        Assert.True(template.Values.Single().Required);
    }

    [Theory]
    [InlineData("""{"typeName":"t","typeMatchExpression":"$..[?(@x","deviceIdExpression":"$.d","timestampExpression":"$.t"}""", "JSONPath")]
    [InlineData("""{"typeName":"t","typeMatchExpression":{"value":"Body[?","language":"JmesPath"},"deviceIdExpression":"$.d","timestampExpression":"$.t"}""", "JMESPath")]
    [InlineData("""{"typeName":"t","typeMatchExpression":{"value":"divide(`1`)","language":"JmesPath"},"deviceIdExpression":"$.d","timestampExpression":"$.t"}""", "JMESPath")]
    [InlineData("""{"typeName":"t","typeMatchExpression":{"value":"x","language":"XPath"},"deviceIdExpression":"$.d","timestampExpression":"$.t"}""", "Unknown expression language")]
    [InlineData("""{"typeName":"","typeMatchExpression":"$.x","deviceIdExpression":"$.d","timestampExpression":"$.t"}""", "non-empty string")]
    [InlineData("""{"typeName":"t","typeMatchExpression":"$.x","deviceIdExpression":"$.d","timestampExpression":"$.t","values":[{"valueName":"v","valueExpression":"$.v","required":"maybe"}]}""", "true or false")]
    public void GivenBadExpressionOrMember_WhenParsed_ThenTemplateErrorAtItsLine(string template, string mentions)
    {
        var mapping = DeviceMapping.Parse(Collection("CalculatedContent", template));

        var error = Assert.Single(mapping.Errors);
        Assert.Contains(mentions, error.Message);
        Assert.Equal(0, error.TemplateIndex);
        Assert.NotNull(error.Line);
    }

    [Fact]
    public void GivenJmesPathInLegacyTemplate_WhenParsed_ThenRejected()
    {
        var mapping = DeviceMapping.Parse(Collection("IotJsonPathContent", """{"typeName":"t","typeMatchExpression":{"value":"Body","language":"JmesPath"}}"""));

        Assert.Contains("supports neither expression objects nor JMESPath", Assert.Single(mapping.Errors).Message);
    }

    [Fact]
    public void GivenInvalidMapping_WhenEnsureValid_ThenExceptionListsEveryError()
    {
        var mapping = DeviceMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/data_CollectionContentTemplateMixedValidity.json"));

        var ex = Assert.Throws<InvalidMappingException>(() => mapping.EnsureValid("devicecontent.json"));
        Assert.Equal(mapping.Errors, ex.Errors);
        Assert.All(mapping.Errors, e => Assert.Contains(e.ToString(), ex.Message));
    }

    private static string Collection(string type, string template) =>
        $$"""{"templateType":"CollectionContent","template":[{"templateType":"{{type}}","template":{{template}}}]}""";

    /// <summary>Single-template fixtures hold one {templateType, template} entry; wrap it in a collection.</summary>
    private static string Wrap(string entry) => $$"""{"templateType":"CollectionContent","template":[{{entry.TrimStart('\uFEFF')}}]}""";
}
