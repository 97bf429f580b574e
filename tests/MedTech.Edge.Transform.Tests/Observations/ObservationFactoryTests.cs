using Hl7.Fhir.Model;
using MedTech.Edge.Transform.Observations;
using MedTech.Edge.Transform.Templates;

namespace MedTech.Edge.Transform.Tests.Observations;

public class ObservationFactoryTests
{
    private static readonly ResourceIds Ids = new("p1", "d1");
    private static readonly DateTimeOffset Issued = new(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);
    private static readonly SampledDataValueTemplate HeartRate = new("hr", 1000, "count/min");

    [Fact]
    public void GivenTheWorkedExample_WhenCreated_ThenEveryElementIsUpstreams()
    {
        var template = Build.Template("heartrate", PeriodInterval.Hourly, HeartRate);

        var observation = Create(template, Build.Measurement("heartrate", "2019-02-01T22:46:01.875Z", ("hr", "78")));

        Assert.Equal("p1.d1.heartrate.20190201220000Z.20190201225959Z", observation.Identifier.Single().Value);
        Assert.Equal(ObservationIdentity.System, observation.Identifier.Single().System);
        Assert.Equal(ObservationIdentity.ObservationId(observation.Identifier.Single().Value!), observation.Id);
        Assert.Equal(ObservationStatus.Final, observation.Status);
        Assert.Equal("heartrate", observation.Code.Text);
        Assert.Equal([("http://loinc.org", "8867-4", "Heart rate"), (ObservationIdentity.System, "heartrate", "heartrate")],
            observation.Code.Coding.Select(c => (c.System, c.Code, c.Display)));
        Assert.Equal(("Patient/p1", "Device/d1"), (observation.Subject!.Reference, observation.Device!.Reference));
        Assert.Null(observation.Encounter);
        var period = Assert.IsType<Period>(observation.Effective);
        Assert.Equal(("2019-02-01T22:00:00.0000000Z", "2019-02-01T22:59:59.9999999Z"), (period.Start, period.End));
        Assert.Equal(Issued, observation.Issued);
        var sampled = Assert.IsType<SampledData>(observation.Value);
        Assert.Equal((0m, "count/min", 1000m, 1), (sampled.Origin!.Value, sampled.Origin.Unit, sampled.Period, sampled.Dimensions));
        Assert.Equal(string.Join(' ', Enumerable.Repeat("E", 2761).Append("78").Concat(Enumerable.Repeat("E", 838))), sampled.Data);
    }

    [Fact]
    public void GivenBloodPressureComponents_WhenCreated_ThenComponentsFollowTemplateOrderWithConnectorCodings()
    {
        var template = Build.Template("bloodpressure", PeriodInterval.Single, null,
            new FhirComponentTemplate([new FhirCode("8462-4", "http://loinc.org", "Diastolic")], new QuantityValueTemplate("diastolic", "mmHg", "http://unitsofmeasure.org", "mm[Hg]")),
            new FhirComponentTemplate([new FhirCode("8480-6", "http://loinc.org", "Systolic")], new QuantityValueTemplate("systolic", "mmHg", "http://unitsofmeasure.org", "mm[Hg]")));

        var observation = Create(template, Build.Measurement("bloodpressure", "2019-02-01T22:46:01Z", ("systolic", "120"), ("diastolic", "80")) with { EncounterId = "e1" }, Ids with { EncounterId = "e1" });

        Assert.Null(observation.Value);
        Assert.Equal("Encounter/e1", observation.Encounter!.Reference);
        Assert.Equal(["diastolic", "systolic"], observation.Component.Select(c => c.Code.Text));
        Assert.Equal((ObservationIdentity.System, "diastolic"), (observation.Component[0].Code.Coding[^1].System, observation.Component[0].Code.Coding[^1].Code));
        Assert.Equal(80m, Assert.IsType<Quantity>(observation.Component[0].Value).Value);
        Assert.Equal("p1.d1.bloodpressure.20190201224601Z.20190201224601Z", observation.Identifier[0].Value);
    }

    [Fact]
    public void GivenSeveralQuantityValuesInOneHour_WhenCreated_ThenTheLatestWins()
    {
        var template = Build.Template("weight", PeriodInterval.Hourly, new QuantityValueTemplate("kg", "kg", null, null));

        var observation = Create(template,
            Build.Measurement("weight", "2019-02-01T22:50:00Z", ("kg", "71.5")),
            Build.Measurement("weight", "2019-02-01T22:10:00Z", ("kg", "70.0")));

        Assert.Equal(71.5m, Assert.IsType<Quantity>(observation.Value).Value);
    }

    [Theory]
    [InlineData("quantity", "True", FhirErrorCodes.InvalidQuantityFhirValue)]
    [InlineData("sampled", "True", FhirErrorCodes.InvalidSampledDataFhirValue)]
    [InlineData("sampled", "", FhirErrorCodes.InvalidSampledDataFhirValue)]
    [InlineData("sampled", "1 2", FhirErrorCodes.InvalidSampledDataFhirValue)]
    public void GivenAValueThatIsNotANumber_WhenCreated_ThenTheGroupFailsWithAReasonCode(string kind, string value, string code)
    {
        FhirValueTemplate valueTemplate = kind == "quantity" ? new QuantityValueTemplate("v", null, null, null) : new SampledDataValueTemplate("v", 1000, null);
        var template = Build.Template("t", PeriodInterval.Hourly, valueTemplate);

        var ex = Assert.Throws<TransformException>(() => Create(template, Build.Measurement("t", "2019-02-01T22:50:00Z", ("v", value))));

        Assert.Equal(code, ex.Code);
    }

    [Fact]
    public void GivenAStoredHourlyObservation_WhenTheSameGroupIsMerged_ThenNothingChanges()
    {
        var template = Build.Template("heartrate", PeriodInterval.Hourly, HeartRate);
        var measurement = Build.Measurement("heartrate", "2019-02-01T22:46:01Z", ("hr", "78"));
        var stored = Create(template, measurement);

        var merged = ObservationFactory.Merge(stored, template, Split(template, measurement));

        Assert.Null(merged);
    }

    [Fact]
    public void GivenAStoredHourlyObservation_WhenANewValueIsMerged_ThenBothAreInTheDataAndStatusIsAmended()
    {
        var template = Build.Template("heartrate", PeriodInterval.Hourly, HeartRate);
        var stored = Create(template, Build.Measurement("heartrate", "2019-02-01T22:00:01Z", ("hr", "78")));

        var merged = ObservationFactory.Merge(stored, template, Split(template, Build.Measurement("heartrate", "2019-02-01T22:00:03Z", ("hr", "80"))))!;

        Assert.Equal(ObservationStatus.Amended, merged.Status);
        Assert.StartsWith("E 78 E 80 E", ((SampledData)merged.Value!).Data);
        Assert.Equal(stored.Issued, merged.Issued);
        Assert.Equal(ObservationStatus.Final, stored.Status);
    }

    [Fact]
    public void GivenAStoredEffectiveDateTime_WhenMerged_ThenThePeriodIsWidenedAndWrittenAsAPeriod()
    {
        var template = Build.Template("heartrate", PeriodInterval.Hourly, HeartRate);
        var stored = Create(template, Build.Measurement("heartrate", "2019-02-01T22:00:01Z", ("hr", "78")));
        stored.Effective = new FhirDateTime("2019-02-01T21:59:58Z");

        var merged = ObservationFactory.Merge(stored, template, Split(template, Build.Measurement("heartrate", "2019-02-01T22:00:03Z", ("hr", "80"))))!;

        var period = Assert.IsType<Period>(merged.Effective);
        Assert.Equal(("2019-02-01T21:59:58.0000000Z", "2019-02-01T22:59:59.9999999Z"), (period.Start, period.End));
        // Stored data is re-read from the stored start (21:59:58), as upstream does, so 78 moves to 21:59:59.
        Assert.StartsWith("E 78 E E E 80 E", ((SampledData)merged.Value!).Data);
    }

    [Fact]
    public void GivenAStoredValueOfAnotherType_WhenMerged_ThenNotSupported()
    {
        var stored = Create(Build.Template("t", PeriodInterval.Hourly, new StringValueTemplate("v")), Build.Measurement("t", "2019-02-01T22:00:01Z", ("v", "x")));
        var template = Build.Template("t", PeriodInterval.Hourly, HeartRate with { ValueName = "v" });

        var ex = Assert.Throws<TransformException>(() => ObservationFactory.Merge(stored, template, Split(template, Build.Measurement("t", "2019-02-01T22:00:02Z", ("v", "1")))));

        Assert.Equal(FhirErrorCodes.NotSupported, ex.Code);
    }

    [Fact]
    public void GivenANewComponent_WhenMerged_ThenItIsAppendedAndTheExistingOneMerged()
    {
        var template = Build.Template("bp", PeriodInterval.Hourly, null,
            new FhirComponentTemplate([], new SampledDataValueTemplate("sys", 1000, "mmHg")),
            new FhirComponentTemplate([], new SampledDataValueTemplate("dia", 1000, "mmHg")));
        var stored = Create(template, Build.Measurement("bp", "2019-02-01T22:00:00Z", ("sys", "120")));

        var merged = ObservationFactory.Merge(stored, template, Split(template, Build.Measurement("bp", "2019-02-01T22:00:01Z", ("sys", "121"), ("dia", "80"))))!;

        Assert.Equal(["sys", "dia"], merged.Component.Select(c => c.Code.Text));
        Assert.StartsWith("120 121 E", ((SampledData)merged.Component[0].Value!).Data);
        Assert.StartsWith("E 80 E", ((SampledData)merged.Component[1].Value!).Data);
    }

    private static Observation Create(CodeValueFhirTemplate template, params MedTech.Edge.Mapping.Normalization.Measurement[] measurements) =>
        Create(template, measurements, Ids);

    private static Observation Create(CodeValueFhirTemplate template, MedTech.Edge.Mapping.Normalization.Measurement measurement, ResourceIds ids) =>
        Create(template, [measurement], ids);

    private static Observation Create(CodeValueFhirTemplate template, MedTech.Edge.Mapping.Normalization.Measurement[] measurements, ResourceIds ids) =>
        ObservationFactory.Create(template, Assert.Single(ObservationGrouping.Split(Build.Group(measurements), template.PeriodInterval)), ids, Issued);

    private static ObservationGroup Split(CodeValueFhirTemplate template, MedTech.Edge.Mapping.Normalization.Measurement measurement) =>
        Assert.Single(ObservationGrouping.Split(Build.Group(measurement), template.PeriodInterval));
}
