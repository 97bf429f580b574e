using MedTech.Edge.Transform.Templates;

namespace MedTech.Edge.Transform.Tests.Templates;

public class FhirMappingParsingTests
{
    public static TheoryData<string> ValidFixtures() => new(
        Corpus.Files(Corpus.TemplateTests, "data_CodeValueFhirTemplate_*.json")
            .Append($"{Corpus.TemplateTests}/data_CollectionFhirTemplateValid.json")
            .Append($"{Corpus.TemplateTests}/data_CollectionFhirTemplateEmptyWithType.json")
            .Append($"{Corpus.ValidationTests}/data_CollectionFhirTemplateValid.json")
            .Append($"{Corpus.ValidationTests}/data_CollectionFhirTemplateIncorrectValueNameInvalid.json")
            .Append($"{Corpus.ValidationTests}/data_CollectionFhirTemplateMissingTypeInvalid.json")
            .Concat(Corpus.Files("templates", "fhirmapping.json"))
            .Concat(Corpus.Files("templates", "fhirMapping_*.json"))
            .Concat(Corpus.Files("cases", "fhir-mapping.json")));

    [Theory]
    [MemberData(nameof(ValidFixtures))]
    public void GivenValidCorpusMapping_WhenParsed_ThenNoErrorsAndEveryTemplateBuilt(string file)
    {
        var text = Corpus.Text(file);
        var json = Wrapped(text);

        var mapping = FhirMapping.Parse(json);

        Assert.True(mapping.IsValid, string.Join(Environment.NewLine, mapping.Errors));
        Assert.Equal(Newtonsoft.Json.Linq.JToken.Parse(json.TrimStart('\uFEFF'))["template"]!.Count(), mapping.Templates.Count);
    }

    [Fact]
    public void GivenTheSampleCollection_WhenParsed_ThenEveryFieldIsRead()
    {
        var mapping = FhirMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/data_CollectionFhirTemplateValid.json"));

        var heartRate = mapping.Find("HEARTRATE")!;
        Assert.Equal(PeriodInterval.Hourly, heartRate.PeriodInterval);
        Assert.Equal(new FhirCode("8867-4", "http://loinc.org", "Heart rate"), Assert.Single(heartRate.Codes));
        var value = Assert.IsType<SampledDataValueTemplate>(heartRate.Value);
        Assert.Equal(("hr", 1000m, "count/min"), (value.ValueName, value.DefaultPeriodMs, value.Unit));
        var bloodPressure = mapping.Find("bloodpressure")!;
        Assert.Null(bloodPressure.Value);
        Assert.Equal(["diastolic", "systolic"], bloodPressure.ValueNames);
        Assert.IsType<CodeableConceptValueTemplate>(mapping.Find("deviceWorn")!.Value);
    }

    [Fact]
    public void GivenTheUpstreamInvalidCollection_WhenParsed_ThenEveryProblemIsReportedWithItsLine()
    {
        var mapping = FhirMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/data_CollectionFhirTemplateInvalid.json"));

        Assert.Equal(["steps"], mapping.Templates.Select(t => t.TypeName));
        Assert.Contains(mapping.Errors, e => e.TemplateIndex == 0 && e.Message.Contains("'typeName' is missing") && e.Line == 6);
        Assert.Contains(mapping.Errors, e => e.TemplateIndex == 1 && e.Message.Contains("'valueName' is missing"));
        Assert.Contains(mapping.Errors, e => e.TemplateIndex == 1 && e.Message.Contains("'valueType' is missing"));
        Assert.Contains(mapping.Errors, e => e.TemplateIndex == 2 && e.Message.Contains("'typeName'") && e.Message.Contains("non-empty"));
        Assert.Contains(mapping.Errors, e => e.TemplateIndex == 4 && e.Message.Contains("Duplicate typeName 'steps'"));
        Assert.All(mapping.Errors, e => Assert.NotNull(e.Line));
    }

    [Theory]
    [InlineData("data_CollectionFhirTemplateEmpty.json", "Expected templateType CollectionFhir")]
    [InlineData("data_InvalidCollectionFhirTemplateWithNoTemplateArray.json", "Expected an array")]
    [InlineData("data_CollectionFhirTemplateMultipleMocks.json", "No match found for template type 'mockA'")]
    [InlineData("data_CollectionFhirTemplateMixedValidity.json", "Required member 'typeName' is missing")]
    [InlineData("data_CollectionFhirTemplateMixed.json", "Expected templateType CollectionFhir, actual 'CollectionContent'")]
    [InlineData("data_CodeValueFhirTemplateInvalid_MissingCodeField.json", "Required member 'codes' is missing")]
    [InlineData("data_CodeValueFhirTemplateInvalid_MissingFields.json", "Required member 'typeName' is missing")]
    public void GivenUpstreamInvalidFixture_WhenParsed_ThenTheErrorSaysWhy(string file, string expected)
    {
        var mapping = FhirMapping.Parse(Wrapped(Corpus.Text($"{Corpus.TemplateTests}/{file}")));

        Assert.False(mapping.IsValid);
        Assert.Contains(mapping.Errors, e => e.Message.Contains(expected));
    }

    [Theory]
    [InlineData("\"periodInterval\": 30", "Unsupported periodInterval '30'")]
    [InlineData("\"periodInterval\": \"weekly\"", "Unsupported periodInterval 'weekly'")]
    [InlineData("\"unexpected\": 1", "Unknown member 'unexpected'")]
    [InlineData("\"value\": {\"valueName\": \"hr\", \"valueType\": \"SampledData\"}", "Required member 'defaultPeriod' is missing")]
    [InlineData("\"value\": {\"valueName\": \"hr\", \"valueType\": \"SampledData\", \"defaultPeriod\": 0}", "positive number of milliseconds")]
    [InlineData("\"value\": {\"valueName\": \"hr\", \"valueType\": \"Integer\"}", "Unknown valueType 'Integer'")]
    [InlineData("\"components\": [{\"codes\": []}]", "Required member 'value' is missing")]
    [InlineData("\"category\": {}", "'category' must be an array")]
    public void GivenATemplateUpstreamWouldOnlyFailOnAtConversion_WhenParsed_ThenItIsAnErrorWithItsLine(string member, string expected)
    {
        var json = $"{{\"templateType\":\"CollectionFhir\",\"template\":[{{\"templateType\":\"CodeValueFhir\",\"template\":{{\n\"typeName\":\"hr\",\"codes\":[],\n{member}}}}}]}}";

        var mapping = FhirMapping.Parse(json);

        var error = Assert.Single(mapping.Errors);
        Assert.Contains(expected, error.Message);
        Assert.Equal(3, error.Line);
    }

    [Theory]
    [InlineData("\"Hourly\"", PeriodInterval.Hourly)]
    [InlineData("\"daily\"", PeriodInterval.Daily)]
    [InlineData("\"CorrelationId\"", PeriodInterval.CorrelationId)]
    [InlineData("-1", PeriodInterval.CorrelationId)]
    [InlineData("1440", PeriodInterval.Daily)]
    [InlineData("\"60\"", PeriodInterval.Hourly)]
    public void GivenAPeriodIntervalByNumberOrName_WhenParsed_ThenItIsRead(string value, PeriodInterval expected)
    {
        var json = $"{{\"templateType\":\"CollectionFhirTemplate\",\"template\":[{{\"templateType\":\"CodeValueFhirTemplate\",\"template\":{{\"typeName\":\"hr\",\"codes\":[],\"periodInterval\":{value}}}}}]}}";

        var mapping = FhirMapping.Parse(json);

        Assert.True(mapping.IsValid, string.Join(Environment.NewLine, mapping.Errors));
        Assert.Equal(expected, mapping.Templates[0].PeriodInterval);
    }

    [Fact]
    public void GivenAnInvalidMapping_WhenEnsuredValid_ThenTheExceptionNamesTheSourceAndEveryError()
    {
        var mapping = FhirMapping.Parse(Corpus.Text($"{Corpus.TemplateTests}/data_CollectionFhirTemplateInvalid.json"));

        var ex = Assert.Throws<MedTech.Edge.Mapping.Templates.InvalidMappingException>(() => mapping.EnsureValid("fhirmapping.json"));

        Assert.Contains("fhirmapping.json", ex.Message);
        Assert.Equal(mapping.Errors.Count, ex.Errors.Count);
    }

    /// <summary>A single CodeValueFhir fixture, wrapped in a collection as a mapping file holds it.</summary>
    private static string Wrapped(string text) =>
        (string?)Newtonsoft.Json.Linq.JToken.Parse(text.TrimStart('\uFEFF'))["templateType"] == "CodeValueFhir"
            ? $"{{\"templateType\":\"CollectionFhir\",\"template\":[{text.TrimStart('\uFEFF')}]}}"
            : text;
}
