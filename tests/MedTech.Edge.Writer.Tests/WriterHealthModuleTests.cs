using System.Globalization;
using System.Net;

namespace MedTech.Edge.Writer.Tests;

/// <summary>
/// The FHIR writer module as a process of its own: while the FHIR server answers 503 /health says degraded and names
/// fhir, and healthy again once it is back; while it refuses the writer (401) /health is 503 naming fhir. Liveness
/// (/health/live, what an orchestrator restarts on) stays healthy throughout: a dead FHIR server cannot make a restart loop.
/// </summary>
public sealed class WriterHealthModuleTests : WriterPipelineTest
{
    private readonly int monitoringPort = Ports.Free();

    public WriterHealthModuleTests()
        : base("medtech-writer-health-", ("measurements", 2))
    {
    }

    [Fact]
    public async Task GivenAFhirServerThatGoesDownAndComesBack_WhenHealthIsAsked_ThenFhirIsDegradedThenHealthyAndUnhealthyWhileItRefusesWithLivenessHealthyThroughout()
    {
        var messages = VitalSigns.Messages(devices: 2, perDevice: 3);
        await server.FailNextAsync(1_000_000, HttpStatusCode.ServiceUnavailable);
        using var gateway = TestHosts.Gateway(folder, mqttPort, cluster.BootstrapServers);
        await gateway.StartAsync();
        using var writer = StartWriter();
        try
        {
            await VitalSigns.PublishAsync(mqttPort, messages);

            var down = await EventuallyAsync("/health", h => h.Component("fhir")?.Status == "Degraded", writer);
            Assert.Equal(HttpStatusCode.OK, down.Code);
            Assert.Equal("Degraded", down.Status);
            await AssertLiveAsync();

            await server.FailNextAsync(0, HttpStatusCode.ServiceUnavailable);
            var fhir = VitalSigns.Client(server.BaseUrl);
            var expected = messages.Count * VitalSigns.ObservationsPerMessage;
            await Eventually.HoldsAsync(() => VitalSigns.ObservationsAsync(fhir).GetAwaiter().GetResult().Count >= expected, TimeSpan.FromSeconds(60));
            var back = await EventuallyAsync("/health", h => h.Component("fhir")?.Status == "Healthy", writer);
            Assert.Equal(HttpStatusCode.OK, back.Code);

            // The server now wants a token the writer does not have: an operator must act, but a restart would not help.
            await server.RequireBearerAsync("a-token-the-writer-lacks");
            await VitalSigns.PublishAsync(mqttPort, VitalSigns.Messages(devices: 2, perDevice: 1).Select(m => m with { Time = m.Time.AddMinutes(10) }));
            var refused = await EventuallyAsync("/health", h => h.Component("fhir")?.Status == "Unhealthy", writer);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Code);
            Assert.Contains("401", refused.Body, StringComparison.Ordinal);
            await AssertLiveAsync();
        }
        finally
        {
            await server.RequireBearerAsync(null);
            await writer.KillAsync();
            await gateway.StopAsync();
        }
    }

    private async Task AssertLiveAsync()
    {
        var live = await HealthAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.Code);
        Assert.Equal("Healthy", live.Status);
        Assert.Null(live.Component("fhir"));
    }

    private ModuleProcess StartWriter()
    {
        var environment = TestHosts.WriterSettings(server.BaseUrl);
        environment["FhirServer__Authentication"] = "None";
        // Two quick attempts per request: the batch fails as unavailable (and is kept) within a second.
        environment["FhirServer__MaxAttempts"] = "2";
        environment["FhirServer__InitialBackoff"] = "00:00:00.050";
        environment["FhirServer__MaxBackoff"] = "00:00:00.200";
        environment["Hub__BootstrapServers"] = cluster.BootstrapServers;
        environment["Hub__Topic"] = "measurements";
        environment["Writer__InHandPath"] = Path.Combine(folder, "writer-inhand.json");
        environment["Monitoring__Port"] = monitoringPort.ToString(CultureInfo.InvariantCulture);
        environment["Monitoring__BindAddress"] = "127.0.0.1";
        environment["Logging__LogLevel__Default"] = "Warning";
        return new ModuleProcess("FhirWriter", "MedTech.Edge.Modules.FhirWriter.dll", folder, environment);
    }

    private async Task<HealthAnswer> EventuallyAsync(string path, Func<HealthAnswer, bool> condition, ModuleProcess writer)
    {
        HealthAnswer? last = null;
        await Eventually.HoldsAsync(() =>
        {
            Assert.False(writer.Process.HasExited, "the writer exited: " + string.Join("\n", writer.Output));
            last = HealthAsync(path).GetAwaiter().GetResult();
            return condition(last);
        }, TimeSpan.FromSeconds(90), () => last?.Body ?? "no answer");
        return last!;
    }

    private Task<HealthAnswer> HealthAsync(string path) => HealthAnswer.GetAsync(monitoringPort, path);
}
