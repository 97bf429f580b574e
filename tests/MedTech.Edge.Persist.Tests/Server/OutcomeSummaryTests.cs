using MedTech.Edge.Persist.Server;

namespace MedTech.Edge.Persist.Tests.Server;

/// <summary>What of a server's OperationOutcome may travel with a dead letter: codes and paths, never the diagnostics that echo values.</summary>
public class OutcomeSummaryTests
{
    [Fact]
    public void GivenAnOutcomeWhoseDiagnosticsEchoAValue_WhenSummarized_ThenSeverityCodeAndPathsRemainAndTheValueDoesNot()
    {
        const string outcome = """
            {"resourceType":"OperationOutcome","issue":[
              {"severity":"error","code":"invalid","diagnostics":"'Jane Doe MRN 12345' is not a decimal","expression":["Observation.value.ofType(Quantity).value"]},
              {"severity":"warning","code":"business","details":{"text":"patient mrn-777"},"location":["Observation.subject"]},
              {"severity":"error","code":"invalid"},
              {"severity":"error","code":"invalid","diagnostics":"mrn-888"}]}
            """;

        var summary = FhirServerClient.SummarizeOutcome(outcome);

        Assert.Equal("4 issue(s): error/invalid at Observation.value.ofType(Quantity).value; warning/business at Observation.subject; error/invalid; …", summary);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("<html>Bad Request</html>")]
    [InlineData("""{"resourceType":"Bundle"}""")]
    [InlineData("""{"issue":"not an array"}""")]
    public void GivenTextThatIsNoOperationOutcome_WhenSummarized_ThenThereIsNoSummary(string? text) =>
        Assert.Null(FhirServerClient.SummarizeOutcome(text));

    [Fact]
    public void GivenHostileCodesAndThousandsOfPaths_WhenSummarized_ThenTheSummaryStaysShort()
    {
        var paths = string.Join(",", Enumerable.Range(0, 5000).Select(i => $"\"{new string('p', 1000)}{i}\""));
        var issue = $$"""{"severity":"{{new string('s', 100_000)}}","code":"x","expression":[{{paths}}]}""";
        var outcome = $$"""{"resourceType":"OperationOutcome","issue":[{{string.Join(",", Enumerable.Repeat(issue, 50))}}]}""";

        Assert.InRange(FhirServerClient.SummarizeOutcome(outcome)!.Length, 1, 2000);
    }
}
