using System.Diagnostics;
using System.Text.Json;
using MedTech.Edge.Testing;
using static MedTech.Edge.Cli.Tests.CommandLine;

namespace MedTech.Edge.Cli.Tests;

/// <summary><c>medtech demo</c>, <c>medtech run</c> and <c>medtech fhir export</c> on the bundled vital-signs mappings.</summary>
public sealed class PipelineCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("medtech-run-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void GivenTheDemo_WhenItRuns_ThenEveryMessageIsAcknowledgedAndTheExportHasVitalSignObservations()
    {
        var data = Path.Combine(folder, "data");
        var (exit, output, error) = Run("demo", "--data", data, "--mqtt-port", Ports.Free().ToString(), "--metrics-port", "0", "--devices", "2", "--rate", "2", "--duration", "3");
        Assert.True(exit == 0, output + error);
        var published = Figure(output, "messages published");
        // 6 at the nominal rate; fewer on a loaded machine (the monitors publish on a timer), never none.
        Assert.True(published >= 2, output);
        Assert.Equal(published, Figure(output, "acknowledged by gateway"));
        Assert.Equal(published, Figure(output, "normalized"));
        Assert.Equal(0, Figure(output, "dead-lettered"));
        Assert.Contains("still in the buffer     nothing", output);

        var ndjson = Path.Combine(folder, "export.ndjson");
        var written = Figure(output, "Observations written");
        (exit, _, error) = Run("fhir", "export", "--data", data, "--out", ndjson);
        Assert.True(exit == 0, error);
        var resources = File.ReadAllLines(ndjson).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.Equal(2, resources.Count(r => r.GetProperty("resourceType").GetString() == "Patient"));
        Assert.Equal(2, resources.Count(r => r.GetProperty("resourceType").GetString() == "Device"));
        var observations = resources.Where(r => r.GetProperty("resourceType").GetString() == "Observation").ToList();
        // Five vital-sign Observations per message; two messages of one monitor in one second share one (upstream's identity).
        Assert.InRange(observations.Count, 5, published * 5);
        Assert.InRange(written, observations.Count, published * 5);
        var codes = observations.GroupBy(o => o.GetProperty("code").GetProperty("coding")[0].GetProperty("code").GetString()).ToDictionary(g => g.Key!, g => g.ToList());
        Assert.Equal(["2708-6", "8310-5", "85354-9", "8867-4", "9279-1"], codes.Keys.Order());
        var panel = codes["85354-9"][0];
        Assert.Equal(["8480-6", "8462-4"], panel.GetProperty("component").EnumerateArray()
            .Select(c => c.GetProperty("code").GetProperty("coding")[0].GetProperty("code").GetString()));
        Assert.Equal("mm[Hg]", panel.GetProperty("component")[0].GetProperty("valueQuantity").GetProperty("code").GetString());
        Assert.Equal("http://unitsofmeasure.org", codes["8867-4"][0].GetProperty("valueQuantity").GetProperty("system").GetString());
    }

    [Fact]
    public void GivenAnInvalidDeviceMapping_WhenRunStarts_ThenItStopsWithExit2AndNamesTheError()
    {
        var mapping = Path.Combine(folder, "bad.json");
        File.WriteAllText(mapping, """{ "templateType": "CollectionContent", "template": [ { "templateType": "JsonPathContent", "template": { } } ] }""");
        var (exit, _, error) = Run("run", "--data", Path.Combine(folder, "data"), "--mqtt-port", Ports.Free().ToString(), "--metrics-port", "0", "--device-mapping", mapping);
        Assert.Equal(2, exit);
        Assert.Contains("typeName", error);
    }

    [Fact]
    public void GivenTheMqttPortIsInUse_WhenRunStarts_ThenItStopsWithExit2AndSaysWhy()
    {
        using var other = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        other.Start();
        var port = ((System.Net.IPEndPoint)other.LocalEndpoint).Port;

        var (exit, _, error) = Run("run", "--data", Path.Combine(folder, "data"), "--mqtt-port", port.ToString(), "--metrics-port", "0");

        Assert.Equal(2, exit);
        Assert.Contains("Cannot listen", error);
        Assert.Contains("--mqtt-port", error);
    }

    [Fact]
    public async Task GivenRun_WhenItGetsSigterm_ThenItStopsCleanlyWithExit0()
    {
        var port = Ports.Free();
        var start = new ProcessStartInfo("dotnet", $"\"{Path.Combine(AppContext.BaseDirectory, "medtech.dll")}\" run --data \"{Path.Combine(folder, "data")}\" --mqtt-port {port} --metrics-port 0")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        for (var deadline = DateTime.UtcNow.AddSeconds(60); !Ports.Listening(port); await Task.Delay(100))
        {
            if (DateTime.UtcNow > deadline || process.HasExited)
            {
                process.Kill();
                Assert.Fail("medtech run did not listen: " + await process.StandardError.ReadToEndAsync());
            }
        }

        using (var kill = Process.Start("kill", $"-TERM {process.Id}"))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, await process.StandardError.ReadToEndAsync());
    }

    [Fact]
    public async Task GivenTheDemoWithAFhirUrl_WhenItRuns_ThenTheObservationsAreOnThatFhirServer()
    {
        await using var server = await FhirTestServer.StartAsync();

        var (exit, output, error) = Run("demo", "--data", Path.Combine(folder, "data"), "--mqtt-port", Ports.Free().ToString(), "--metrics-port", "0",
            "--fhir-url", server.BaseUrl.AbsoluteUri, "--devices", "1", "--rate", "1", "--duration", "2");

        Assert.True(exit == 0, output + error);
        Assert.Contains(server.BaseUrl.AbsoluteUri.TrimEnd('/') + "/Observation", output);
        using var http = new HttpClient();
        var bundle = JsonDocument.Parse(await http.GetStringAsync(new Uri(server.BaseUrl, "Observation?_summary=count")));
        Assert.True(bundle.RootElement.GetProperty("total").GetInt32() >= 5, bundle.RootElement.ToString());
    }

    [Fact]
    public void GivenAFhirServerThatCannotBeReached_WhenTheDemoEnds_ThenItSaysWhatIsStillPendingAndExits1()
    {
        // Nothing listens on a free port: the writer keeps every group in the outbox and retries.
        var unreachable = $"http://127.0.0.1:{Ports.Free()}/fhir/";

        var (exit, output, error) = Run("demo", "--data", Path.Combine(folder, "data"), "--mqtt-port", Ports.Free().ToString(), "--metrics-port", "0",
            "--fhir-url", unreachable, "--devices", "1", "--rate", "2", "--duration", "2", "--drain-timeout", "1");

        Assert.True(exit == 1, output + error);
        Assert.Contains("waiting up to 1 s for", output);
        var pending = output.Split('\n').Single(l => l.TrimStart().StartsWith("still in the buffer", StringComparison.Ordinal));
        Assert.Matches(@"still in the buffer +0 messages to normalize and [1-9]\d* groups to write; the next medtech run on this folder writes them", pending);
        Assert.Equal(Figure(output, "messages published"), Figure(output, "acknowledged by gateway"));
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://fhir.example/")]
    public void GivenAFhirUrlThatIsNotHttp_WhenRunStarts_ThenItStopsWithExit2AndSaysWhy(string url)
    {
        var (exit, _, error) = Run("run", "--data", Path.Combine(folder, "data"), "--metrics-port", "0", "--fhir-url", url);

        Assert.Equal(2, exit);
        Assert.Contains("--fhir-url must be an absolute http or https URL", error);
    }

    private static int Figure(string output, string label) =>
        int.Parse(output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith(label, StringComparison.Ordinal))[label.Length..].Trim());

}
